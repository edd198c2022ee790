/*
 * w1: the W1 benchmark workload as a C guest (shared/bench/README.md): keep
 * the records whose "level" is "error", upper-case "msg", set
 * "processed": true. The output is byte for byte that of pipe's native
 * stages (select, case, set): the record is copied with the two values
 * replaced, a missing "processed" is appended.
 */
#define PIPE_GUEST_IMPL
#include "pipe_guest.h"
#include "pipe_json.h"

static const char not_json[] = "record is not a JSON value (field-based transformers need codec: ndjson)";

/* writes the new "msg" value: the upper-cased text, or the raw value when
 * upper-casing changes nothing (as the native case stage) */
static void put_msg(const pj_field *m) {
	const char *s = m->val + 1, *e = m->val_end - 1;
	size_t n = (size_t)(e - s);
	if (!m->val_escaped && pj_plain(s, n)) {
		/* plain ASCII: upper-case it on the way out */
		pipe_out_byte('"');
		char *d = pipe_out_reserve(n);
		memcpy(d, s, n);
		pipe_ascii_upper(d, n);
		pipe_out_commit(n);
		pipe_out_byte('"');
		return;
	}
	char *text = pipe_arena(n + 1);
	char *up = pipe_arena(3 * n + 1);
	if (!text || !up) {
		pipe_fail("w1: out of memory");
		return;
	}
	size_t tn = pj_unescape(s, e, text);
	size_t un = pj_upper(text, tn, up);
	if (un == tn && memcmp(up, text, tn) == 0) {
		pipe_out_write(m->val, (size_t)(m->val_end - m->val)); /* unchanged */
		return;
	}
	if (pj_plain(up, un)) {
		pipe_out_byte('"');
		pipe_out_write(up, un);
		pipe_out_byte('"');
		return;
	}
	char *d = pipe_out_reserve(6 * un + 2);
	pipe_out_commit(pj_quote(up, un, d));
}

void pipe_guest_transform(const pipe_record *rec) {
	const char *b = rec->data, *end = b + rec->len;
	const char *p = b;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
	if (p == end || (*p != '{' && *p != '[')) {
		pipe_fail(not_json);
		return;
	}
	if (*p == '[') return; /* an array has no "level": dropped */
	pj_field f, level, msg, proc;
	int has_level = 0, has_msg = 0, has_proc = 0, r;
	pj_iter it = pj_iter_of(p, end);
	while ((r = pj_next_field(&it, &f)) == 1) {
		size_t kn = (size_t)(f.key_end - f.key);
		if (kn < 5 && !f.key_escaped) continue; /* shorter than "msg" with quotes */
		if (!has_level && pj_str_eq(f.key, f.key_end, f.key_escaped, "level", 5)) {
			level = f, has_level = 1;
			if (!(*f.val == '"' && pj_str_eq(f.val, f.val_end, f.val_escaped, "error", 5)))
				return; /* not an error: dropped */
		} else if (!has_msg && pj_str_eq(f.key, f.key_end, f.key_escaped, "msg", 3)) {
			msg = f, has_msg = 1;
		} else if (!has_proc && pj_str_eq(f.key, f.key_end, f.key_escaped, "processed", 9)) {
			proc = f, has_proc = 1;
		}
	}
	if (r < 0) {
		pipe_fail("w1: malformed JSON");
		return;
	}
	if (!has_level) return;
	(void)level;
	const char *close = it.p - 1; /* the object's closing brace */
	/* the values to replace, in the order they appear */
	const pj_field *edit[2];
	int n = 0;
	if (has_msg && *msg.val == '"') edit[n++] = &msg;
	if (has_proc) edit[n++] = &proc;
	if (n == 2 && edit[1]->val < edit[0]->val) {
		const pj_field *t = edit[0];
		edit[0] = edit[1], edit[1] = t;
	}
	pipe_out_begin();
	const char *cur = has_proc ? b : p; /* appending drops leading blanks, as sjson */
	for (int i = 0; i < n; i++) {
		pipe_out_write(cur, (size_t)(edit[i]->val - cur));
		if (edit[i] == &msg) put_msg(&msg);
		else pipe_out_write("true", 4);
		cur = edit[i]->val_end;
	}
	if (has_proc) {
		pipe_out_write(cur, (size_t)(end - cur));
	} else {
		/* up to the last '}' of the record, then ,"processed":true} */
		while (end > close + 1 && end[-1] != '}') end--;
		const char *last = end - 1;
		pipe_out_write(cur, (size_t)(last - cur));
		const char *q = pj_ws(p + 1, end);
		if (q < end && *q != '}' && *q != ']') pipe_out_byte(',');
		pipe_out_write("\"processed\":true}", 17);
	}
	pipe_out_end();
}
