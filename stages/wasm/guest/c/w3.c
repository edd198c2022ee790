/*
 * w3: the W3 benchmark workload as a C guest (shared/bench/README.md): one
 * record per element of "tags", with "tag" set to the element and "tags"
 * removed; a record without tags (missing, null, []) vanishes. The output
 * is byte for byte that of pipe's native explode stage (field: tags,
 * as: tag): the field is cut out of the record and each element appended
 * as it is written.
 */
#define PIPE_GUEST_IMPL
#include "pipe_guest.h"
#include "pipe_json.h"

static const char not_json[] = "record is not a JSON value (field-based transformers need codec: ndjson)";

/* reports whether "tag" (with its quotes) occurs in [s, e): sixteen
 * positions a step with -msimd128 */
static int has_tag_key(const char *s, const char *e) {
#ifdef __wasm_simd128__
	while (e - s >= 20) {
		v128_t m = wasm_i8x16_eq(wasm_v128_load(s), wasm_i8x16_splat('"'));
		m = wasm_v128_and(m, wasm_i8x16_eq(wasm_v128_load(s + 1), wasm_i8x16_splat('t')));
		m = wasm_v128_and(m, wasm_i8x16_eq(wasm_v128_load(s + 2), wasm_i8x16_splat('a')));
		m = wasm_v128_and(m, wasm_i8x16_eq(wasm_v128_load(s + 3), wasm_i8x16_splat('g')));
		m = wasm_v128_and(m, wasm_i8x16_eq(wasm_v128_load(s + 4), wasm_i8x16_splat('"')));
		if (wasm_v128_any_true(m)) return 1;
		s += 16;
	}
#endif
	for (; e - s >= 5; s++)
		if (s[0] == '"' && pj_memeq(s, "\"tag\"", 5)) return 1;
	return 0;
}

void pipe_guest_transform(const pipe_record *rec) {
	const char *b = rec->data, *end = b + rec->len;
	const char *p = b;
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
	if (p == end || (*p != '{' && *p != '[')) {
		pipe_fail(not_json);
		return;
	}
	if (*p == '[') return; /* an array has no "tags": nothing to explode */
	pj_field tags, tag, f;
	int has_tags = 0, has_tag = 0, r;
	pj_iter it = pj_iter_of(p, end);
	while ((r = pj_next_field(&it, &f)) == 1) {
		if (!has_tags && pj_str_eq(f.key, f.key_end, f.key_escaped, "tags", 4)) tags = f, has_tags = 1;
		else if (!has_tag && pj_str_eq(f.key, f.key_end, f.key_escaped, "tag", 3)) tag = f, has_tag = 1;
	}
	if (r < 0) {
		pipe_fail("w3: malformed JSON");
		return;
	}
	if (!has_tags || *tags.val == 'n') return; /* missing or null: nothing */
	if (*tags.val != '[') {
		pipe_fail("field tags is not an array");
		return;
	}
	/* base: the record without the tags field and one comma beside it */
	const char *cut = tags.key, *cut_end = tags.val_end;
	const char *q = cut;
	while (q > b && pj_blank(q[-1])) q--;
	if (q > b && q[-1] == ',') {
		cut = q - 1; /* the comma before the field */
	} else {
		if (tags.key_escaped) cut = q; /* sjson deletes the blanks after '{' too */
		const char *a = pj_ws(cut_end, end);
		if (a < end && *a == ',') cut_end = a + 1; /* the first field: the comma after it */
	}
	size_t n1 = (size_t)(cut - b), n2 = (size_t)(end - cut_end);
	char *base = pipe_arena(n1 + n2 + 1);
	if (!base) {
		pipe_fail("w3: out of memory");
		return;
	}
	memcpy(base, b, n1);
	memcpy(base + n1, cut_end, n2);
	const char *be = base + n1 + n2;
	/* the elements go at the end, before the closing brace, unless "tag" is
	 * there already (then in its place) */
	const char *head, *head_end, *tail, *tail_end;
	const char *sep = ",\"tag\":";
	size_t seplen = 7;
	const char *e = be;
	while (e > base && pj_blank(e[-1])) e--;
	if (e - base >= 2 && e[-1] == '}' && !has_tag_key(base, be)) {
		const char *pe = e - 1;
		while (pe > base && pj_blank(pe[-1])) pe--;
		head = base, head_end = pe, tail = "}", tail_end = tail + 1;
		if (pe > base && pe[-1] == '{') sep++, seplen--;
	} else if (has_tag) {
		/* replace the value of "tag" (its place in base) */
		const char *v = tag.val < cut ? base + (tag.val - b) : base + n1 + (tag.val - cut_end);
		const char *ve = v + (tag.val_end - tag.val);
		head = base, head_end = v, tail = ve, tail_end = be, seplen = 0;
	} else {
		/* sjson's append: from '{' to the last '}', a comma unless empty */
		const char *o = pj_ws(base, be);
		const char *last = be;
		while (last > o && last[-1] != '}') last--;
		if (last == o) {
			pipe_fail("w3: malformed JSON");
			return;
		}
		head = o, head_end = last - 1, tail = "}", tail_end = tail + 1;
		const char *c = pj_ws(o + 1, be);
		if (c < be && (*c == '}' || *c == ']')) sep++, seplen--;
	}
	pj_iter el = pj_iter_of(tags.val, tags.val_end);
	const char *v, *ve;
	while ((r = pj_next_elem(&el, &v, &ve)) == 1) {
		pipe_out_begin();
		pipe_out_write(head, (size_t)(head_end - head));
		pipe_out_write(sep, seplen);
		pipe_out_write(v, (size_t)(ve - v));
		pipe_out_write(tail, (size_t)(tail_end - tail));
		pipe_out_end();
	}
	if (r < 0) pipe_fail("w3: malformed JSON");
}
