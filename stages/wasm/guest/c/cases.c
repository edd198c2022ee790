/*
 * cases: a C guest whose config key "case" picks a behaviour: the cases of
 * the conformance suite (engine/enginetest), as the Go cases guest
 * (../../testdata/guests/cases), and a few misbehaving ones for the C
 * guests' tests. A config with "prefix" and no "case" is the init case.
 */
#define PIPE_GUEST_IMPL
#include <stdio.h>
#include <stdlib.h>
#include "pipe_guest.h"
#include "pipe_json.h"

static char mode[32];
static char *prefix;
static size_t prefix_len;
static unsigned long seen;

/* reads the string field name of the config object into dst (the decoded
 * text, arena memory); 1 when present */
static int config_string(const char *cfg, const char *end, const char *name, pipe_str *dst) {
	const char *p = pj_ws(cfg, end);
	pj_field f;
	if (p == end || *p != '{' || pj_find(p, end, name, strlen(name), &f) != 1 || *f.val != '"') return 0;
	char *buf = pipe_arena((size_t)(f.val_end - f.val));
	dst->len = pj_unescape(f.val + 1, f.val_end - 1, buf);
	dst->ptr = buf;
	return 1;
}

const char *pipe_guest_init(const char *config, size_t len) {
	pipe_str c = {"", 0}, pre = {"", 0};
	config_string(config, config + len, "case", &c);
	if (config_string(config, config + len, "prefix", &pre)) {
		prefix = malloc(pre.len + 1);
		memcpy(prefix, pre.ptr, pre.len);
		prefix_len = pre.len;
		if (c.len == 0) c.ptr = "init", c.len = 4;
	}
	if (c.len >= sizeof mode) return "case name too long";
	memcpy(mode, c.ptr, c.len);
	mode[c.len] = 0;
	if (strcmp(mode, "reject") == 0) return "case reject: this config is refused";
	char msg[64];
	snprintf(msg, sizeof msg, "cases guest ready: %s", mode);
	pipe_logs(PIPE_INFO, msg);
	return NULL;
}

void pipe_guest_flush(void) {
	if (strcmp(mode, "flush") != 0) return;
	char out[32];
	int n = snprintf(out, sizeof out, "count=%lu", seen);
	pipe_emit(out, (size_t)n);
}

static int is(const pipe_record *rec, const char *s) {
	return rec->len == strlen(s) && memcmp(rec->data, s, rec->len) == 0;
}

static void *hoard;

void pipe_guest_transform(const pipe_record *rec) {
	if (strcmp(mode, "identity") == 0) {
		pipe_emit(rec->data, rec->len);
	} else if (strcmp(mode, "upper") == 0) {
		pipe_out_begin();
		char *p = pipe_out_reserve(rec->len);
		memcpy(p, rec->data, rec->len);
		pipe_ascii_upper(p, rec->len);
		pipe_out_commit(rec->len);
		pipe_out_end();
	} else if (strcmp(mode, "drop") == 0) {
		if (rec->len == 0 || rec->data[0] != '#') pipe_emit(rec->data, rec->len);
	} else if (strcmp(mode, "split") == 0) {
		const char *s = rec->data, *end = s + rec->len;
		for (;;) {
			const char *c = memchr(s, ',', (size_t)(end - s));
			if (!c) break;
			pipe_emit(s, (size_t)(c - s));
			s = c + 1;
		}
		pipe_emit(s, (size_t)(end - s));
	} else if (strcmp(mode, "meta") == 0) {
		pipe_str in = {"", 0};
		pipe_meta_get(rec, "in", 2, &in);
		char *out = pipe_arena(in.len + 1);
		memcpy(out, in.ptr, in.len);
		out[in.len] = '!';
		pipe_meta m = pipe_meta_of(rec);
		pipe_meta_set(&m, "out", 3, out, in.len + 1);
		pipe_meta_del(&m, "gone", 4);
		pipe_emit_meta(rec->data, rec->len, &m);
	} else if (strcmp(mode, "fail") == 0) {
		if (is(rec, "bad")) pipe_fail("bad record");
		else pipe_emit(rec->data, rec->len);
	} else if (strcmp(mode, "init") == 0) {
		pipe_out_begin();
		pipe_out_write(prefix, prefix_len);
		pipe_out_write(rec->data, rec->len);
		pipe_out_end();
	} else if (strcmp(mode, "flush") == 0) {
		seen++;
	} else if (strcmp(mode, "hang") == 0) {
		if (is(rec, "hang")) {
			volatile unsigned n = 0;
			for (;;) n++; /* an endless loop that honours nothing */
		}
		pipe_emit(rec->data, rec->len);
	} else if (strcmp(mode, "json") == 0) {
		/* set "seen": true: replace it, or append it before the last '}' */
		const char *b = rec->data, *end = b + rec->len, *p = pj_ws(b, end);
		pj_field f;
		int r = p < end && *p == '{' ? pj_find(p, end, "seen", 4, &f) : -1;
		if (r < 0) {
			pipe_fail("not a JSON object");
			return;
		}
		pipe_out_begin();
		if (r == 1) {
			pipe_out_write(b, (size_t)(f.val - b));
			pipe_out_write("true", 4);
			pipe_out_write(f.val_end, (size_t)(end - f.val_end));
		} else {
			while (end > p && end[-1] != '}') end--;
			const char *q = pj_ws(p + 1, end);
			pipe_out_write(b, (size_t)(end - 1 - b));
			if (*q != '}') pipe_out_byte(',');
			pipe_out_write("\"seen\":true}", 12);
		}
		pipe_out_end();
	}
	/* Misbehaving guests. */
	else if (strcmp(mode, "trap") == 0) {
		if (is(rec, "boom")) __builtin_trap();
		pipe_emit(rec->data, rec->len);
	} else if (strcmp(mode, "alloc") == 0) {
		/* keeps 1 MiB per "big" record: past memory_limit malloc fails */
		if (is(rec, "big")) {
			for (int i = 0; i < 256; i++) {
				void **p = malloc(1 << 20);
				if (!p) {
					pipe_fail("out of memory");
					return;
				}
				*p = hoard;
				hoard = p;
			}
		}
		pipe_emit(rec->data, rec->len);
	} else if (strcmp(mode, "print") == 0) {
		printf("stdout says %.*s\n", (int)rec->len, rec->data);
		fflush(stdout);
		fprintf(stderr, "stderr says %.*s\n", (int)rec->len, rec->data);
		pipe_emit(rec->data, rec->len);
	} else if (strcmp(mode, "nested") == 0) {
		/* guest bugs the SDK turns into failures: an output left open */
		pipe_out_begin();
		pipe_out_write(rec->data, rec->len);
	} else {
		char msg[64];
		snprintf(msg, sizeof msg, "unknown case \"%s\"", mode);
		pipe_fail(msg);
	}
}
