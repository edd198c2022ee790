/*
 * pipe_guest.h: the C SDK for pipe wasm stages (ABI v1, ../../ABI.md).
 *
 * One header. Exactly one C file of the guest defines PIPE_GUEST_IMPL before
 * including it; that file then holds the ABI (the exports pipe_abi_version,
 * pipe_alloc, pipe_transform, pipe_init and pipe_flush, the batch decoding
 * and the result encoding). The guest defines one function of a record:
 *
 *     #define PIPE_GUEST_IMPL
 *     #include "pipe_guest.h"
 *
 *     void pipe_guest_transform(const pipe_record *rec) {
 *         pipe_emit(rec->data, rec->len);    // pass it on unchanged
 *     }
 *
 * and, optionally, pipe_guest_init (the stage's config: as JSON, once per
 * instance) and pipe_guest_flush (end of stream). Build a WASI reactor with
 * Debian's clang, lld, wasi-libc and libclang-rt-14-dev-wasm32:
 *
 *     clang --target=wasm32-wasi -mexec-model=reactor -O2 -o guest.wasm guest.c
 *
 * Per record, the function decides by calling the helpers below: none of
 * them drops the record; pipe_emit (and friends) emit one output each, so
 * several split it; pipe_fail fails it with a message (the stage's on_error
 * decides what follows). Outputs are written straight into the result
 * buffer: there is no allocation per record. pipe_arena gives scratch memory
 * that lives until the current call returns (one reset per batch).
 *
 * The host never calls an instance concurrently (workers: N makes N
 * instances), so global variables keep state between records without
 * locks; the state is lost when the host replaces the instance after a trap
 * or a timeout.
 */
#ifndef PIPE_GUEST_H
#define PIPE_GUEST_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI version this SDK implements. */
#define PIPE_ABI_VERSION 1

/* Log levels for pipe_log. */
enum { PIPE_DEBUG = 0, PIPE_INFO = 1, PIPE_WARN = 2, PIPE_ERROR = 3 };

/* A string of bytes: not NUL-terminated, any bytes (UTF-8 by convention). */
typedef struct pipe_str {
	const char *ptr;
	size_t len;
} pipe_str;

/* One input record. data points into the input buffer: it is valid during
 * the call of pipe_guest_transform only (copy what must outlive it;
 * emitting it, or parts of it, is fine). */
typedef struct pipe_record {
	const char *data;  /* the record's bytes */
	size_t len;        /* their number */
	uint32_t npairs;   /* metadata pairs */
	const uint8_t *meta; /* the encoded pairs (read them with pipe_meta_*) */
	size_t meta_len;
} pipe_record;

/* A metadata pair. */
typedef struct pipe_kv {
	pipe_str key, value;
} pipe_kv;

/* A metadata set to emit, built in the arena (pipe_meta_of, pipe_meta_set,
 * pipe_meta_del): valid until the current call returns. */
typedef struct pipe_meta {
	pipe_kv *kv;
	size_t len, cap;
} pipe_meta;

/* An iterator over a record's metadata pairs (pipe_meta_iter, pipe_meta_next). */
typedef struct pipe_meta_it {
	const uint8_t *p, *end;
	uint32_t left;
} pipe_meta_it;

/* ---- The functions the guest defines ---------------------------------- */

/* Required: transform one record (see the helpers below). */
void pipe_guest_transform(const pipe_record *rec);

/* Optional: receives the stage's config: as JSON ("{}" when there is none)
 * once per instance, before the first record. Return NULL to accept it, or
 * a NUL-terminated message that rejects it (`pipe lint` shows it, exit 2). */
const char *pipe_guest_init(const char *config, size_t len) __attribute__((weak));

/* Optional: end of stream. Records emitted here (pipe_emit, ...) leave after
 * every other record, without metadata; pipe_fail fails the stage. */
void pipe_guest_flush(void) __attribute__((weak));

/* ---- Results of the current record (or of the flush) ------------------ */

/* Emits one output record: len bytes at data, with the input record's
 * metadata. data may point anywhere (into the input record too). */
void pipe_emit(const void *data, size_t len);

/* Emits one output record with exactly the pairs of meta (NULL: none). */
void pipe_emit_meta(const void *data, size_t len, const pipe_meta *meta);

/* Builds one output record in place, piece by piece, without a copy:
 * pipe_out_begin, then any number of pipe_out_write, pipe_out_byte,
 * pipe_out_reserve + pipe_out_commit, then pipe_out_end (input metadata)
 * or pipe_out_end_meta (exactly meta's pairs). One output at a time; ending
 * the record without pipe_out_end fails it. */
void pipe_out_begin(void);
void pipe_out_write(const void *data, size_t len);
void pipe_out_byte(int c);
/* Returns room for n bytes at the end of the output being built; write at
 * most n and pipe_out_commit(k) the k written. The pointer is valid until
 * the next pipe_* call. */
char *pipe_out_reserve(size_t n);
void pipe_out_commit(size_t n);
void pipe_out_end(void);
void pipe_out_end_meta(const pipe_meta *meta);

/* Fails the record with msg (NUL-terminated, or len bytes): outputs
 * emitted for it before are discarded, later calls for it ignored. */
void pipe_fail(const char *msg);
void pipe_fail_n(const char *msg, size_t len);

/* Discards the outputs emitted so far for the record: it is dropped unless
 * something is emitted after. (Emitting nothing drops it too.) */
void pipe_drop(void);

/* ---- Metadata --------------------------------------------------------- */

/* Looks up key in the record's metadata: 1 and *value set when present. */
int pipe_meta_get(const pipe_record *rec, const char *key, size_t keylen, pipe_str *value);
/* Iterates the record's pairs: pipe_meta_it it = pipe_meta_iter(rec);
 * while (pipe_meta_next(&it, &kv)) ... */
pipe_meta_it pipe_meta_iter(const pipe_record *rec);
int pipe_meta_next(pipe_meta_it *it, pipe_kv *kv);
/* The record's pairs as a pipe_meta in the arena, with room to add
 * (rec NULL: an empty set). */
pipe_meta pipe_meta_of(const pipe_record *rec);
/* Sets key to value (replacing it when present) or deletes it. The bytes
 * are not copied: they must live until the output is emitted (the input
 * record, a constant, or pipe_arena memory). */
void pipe_meta_set(pipe_meta *m, const char *key, size_t keylen, const char *value, size_t valuelen);
void pipe_meta_del(pipe_meta *m, const char *key, size_t keylen);

/* ---- Memory and log --------------------------------------------------- */

/* Returns n bytes of scratch memory (8-byte aligned), valid until the
 * current pipe_transform, pipe_init or pipe_flush call returns; the whole
 * arena is reset at the start of each call. NULL when memory is exhausted
 * (memory_limit). */
void *pipe_arena(size_t n);

/* Writes msg to the host's log at level (PIPE_DEBUG..PIPE_ERROR), with the
 * stage's name; the host keeps at most 4 KiB of it. */
void pipe_log(int level, const char *msg, size_t len);
void pipe_logs(int level, const char *msg); /* NUL-terminated */

/* Converts the ASCII letters of the n bytes at p to upper case in place
 * (other bytes unchanged); returns 1 when all n bytes were ASCII, else 0. */
int pipe_ascii_upper(char *p, size_t n);

#ifdef __cplusplus
}
#endif

/* ======================================================================= */
#ifdef PIPE_GUEST_IMPL

#include <stdlib.h>
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

#define PIPE__EXPORT(name) __attribute__((export_name(name), visibility("default")))
#define PIPE__INHERIT 0xFFFFFFFFu

__attribute__((import_module("pipe"), import_name("log")))
extern void pipe__host_log(int32_t level, const char *ptr, int32_t len);

/* A growable buffer (realloc). */
typedef struct pipe__buf {
	uint8_t *p;
	size_t len, cap;
} pipe__buf;

static pipe__buf pipe__in;   /* the input buffer handed out by pipe_alloc */
static pipe__buf pipe__out;  /* the result of the latest call */

/* The state of the record being answered. */
static size_t pipe__rec_start;  /* offset of its record_result in pipe__out */
static uint32_t pipe__outputs;  /* outputs emitted for it */
static int pipe__failed;        /* pipe_fail was called */
static size_t pipe__open;       /* offset of the open output's length + 1, or 0 */
static int pipe__flushing;      /* answering pipe_flush: no input metadata */

static void pipe__oom(void) {
	static const char m[] = "pipe_guest: out of memory (memory_limit)";
	pipe__host_log(PIPE_ERROR, m, sizeof m - 1);
	__builtin_trap();
}

static void pipe__grow(pipe__buf *b, size_t need) {
	if (b->len + need <= b->cap) return;
	size_t cap = b->cap ? b->cap : 64 << 10;
	while (cap < b->len + need) cap *= 2;
	uint8_t *p = (uint8_t *)realloc(b->p, cap);
	if (!p) pipe__oom();
	b->p = p;
	b->cap = cap;
}

static inline void pipe__put(pipe__buf *b, const void *p, size_t n) {
	pipe__grow(b, n);
	if (n) memcpy(b->p + b->len, p, n);
	b->len += n;
}

static inline void pipe__put32(pipe__buf *b, uint32_t v) {
	pipe__grow(b, 4);
	memcpy(b->p + b->len, &v, 4); /* wasm is little-endian */
	b->len += 4;
}

static inline uint32_t pipe__rd32(const uint8_t *p) {
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static inline void pipe__wr32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }

/* ---- arena: chained blocks; a reset keeps one block as large as the
 * whole of the previous use, so a steady state allocates nothing. */
typedef struct pipe__block {
	struct pipe__block *next;
	size_t used, size;
} pipe__block;

static pipe__block *pipe__arena_head;
static size_t pipe__arena_total;

static void pipe__arena_reset(void) {
	pipe__block *b = pipe__arena_head;
	if (b && b->next) { /* several blocks: replace them with one */
		size_t total = pipe__arena_total;
		while (b) {
			pipe__block *n = b->next;
			free(b);
			b = n;
		}
		pipe__arena_head = NULL;
		b = (pipe__block *)malloc(sizeof(pipe__block) + total);
		if (b) {
			b->next = NULL;
			b->size = total;
			pipe__arena_head = b;
		}
		pipe__arena_total = b ? total : 0;
	}
	if (pipe__arena_head) pipe__arena_head->used = 0;
}

void *pipe_arena(size_t n) {
	n = (n + 7) & ~(size_t)7;
	pipe__block *b = pipe__arena_head;
	if (!b || b->size - b->used < n) {
		size_t size = b ? b->size * 2 : 64 << 10;
		while (size < n) size *= 2;
		pipe__block *nb = (pipe__block *)malloc(sizeof(pipe__block) + size);
		if (!nb) return NULL;
		nb->next = b;
		nb->used = 0;
		nb->size = size;
		pipe__arena_head = b = nb;
		pipe__arena_total += size;
	}
	void *p = (uint8_t *)(b + 1) + b->used;
	b->used += n;
	return p;
}

/* ---- log */
void pipe_log(int level, const char *msg, size_t len) {
	if (len) pipe__host_log(level, msg, (int32_t)len);
}

void pipe_logs(int level, const char *msg) { pipe_log(level, msg, strlen(msg)); }

/* ---- results */
static void pipe__begin_record(void) {
	pipe__rec_start = pipe__out.len;
	pipe__outputs = 0;
	pipe__failed = 0;
	pipe__open = 0;
	pipe__grow(&pipe__out, 5);
	pipe__out.p[pipe__out.len] = 0; /* emit */
	pipe__wr32(pipe__out.p + pipe__out.len + 1, 0);
	pipe__out.len += 5;
}

static void pipe__put_meta(const pipe_meta *m) {
	if (!m) {
		pipe__put32(&pipe__out, 0);
		return;
	}
	pipe__put32(&pipe__out, (uint32_t)m->len);
	for (size_t i = 0; i < m->len; i++) {
		pipe__put32(&pipe__out, (uint32_t)m->kv[i].key.len);
		pipe__put(&pipe__out, m->kv[i].key.ptr, m->kv[i].key.len);
		pipe__put32(&pipe__out, (uint32_t)m->kv[i].value.len);
		pipe__put(&pipe__out, m->kv[i].value.ptr, m->kv[i].value.len);
	}
}

static void pipe__counted(void) {
	pipe__outputs++;
	pipe__wr32(pipe__out.p + pipe__rec_start + 1, pipe__outputs);
}

void pipe_fail_n(const char *msg, size_t len) {
	if (pipe__failed) return;
	pipe__failed = 1;
	pipe__open = 0;
	pipe__out.len = pipe__rec_start;
	pipe__grow(&pipe__out, 5 + len);
	pipe__out.p[pipe__out.len++] = 1; /* fail */
	pipe__put32(&pipe__out, (uint32_t)len);
	pipe__put(&pipe__out, msg, len);
}

void pipe_fail(const char *msg) { pipe_fail_n(msg, strlen(msg)); }

void pipe_drop(void) {
	if (pipe__failed) return;
	pipe__out.len = pipe__rec_start;
	pipe__begin_record();
}

void pipe_out_begin(void) {
	if (pipe__failed) return;
	if (pipe__open) {
		pipe_fail("pipe_guest: pipe_out_begin while another output is open (call pipe_out_end first)");
		return;
	}
	pipe__put32(&pipe__out, 0);
	pipe__open = pipe__out.len; /* the data starts here; its length is 4 bytes before */
}

void pipe_out_write(const void *data, size_t len) {
	if (pipe__open) pipe__put(&pipe__out, data, len);
}

void pipe_out_byte(int c) {
	if (!pipe__open) return;
	pipe__grow(&pipe__out, 1);
	pipe__out.p[pipe__out.len++] = (uint8_t)c;
}

char *pipe_out_reserve(size_t n) {
	static char sink[64];
	if (!pipe__open) { /* failed record: let the caller write harmlessly */
		static char *big;
		static size_t bigcap;
		if (n <= sizeof sink) return sink;
		if (n > bigcap) {
			char *b = (char *)realloc(big, n);
			if (!b) pipe__oom();
			big = b;
			bigcap = n;
		}
		return big;
	}
	pipe__grow(&pipe__out, n);
	return (char *)pipe__out.p + pipe__out.len;
}

void pipe_out_commit(size_t n) {
	if (pipe__open) pipe__out.len += n;
}

static int pipe__end(void) {
	if (!pipe__open) return 0;
	pipe__wr32(pipe__out.p + pipe__open - 4, (uint32_t)(pipe__out.len - pipe__open));
	pipe__open = 0;
	return 1;
}

void pipe_out_end(void) {
	if (!pipe__end()) return;
	pipe__put32(&pipe__out, pipe__flushing ? 0 : PIPE__INHERIT);
	pipe__counted();
}

void pipe_out_end_meta(const pipe_meta *meta) {
	if (!pipe__end()) return;
	pipe__put_meta(meta);
	pipe__counted();
}

void pipe_emit(const void *data, size_t len) {
	if (pipe__failed) return;
	if (pipe__open) {
		pipe_fail("pipe_guest: pipe_emit while an output is open (call pipe_out_end first)");
		return;
	}
	pipe__put32(&pipe__out, (uint32_t)len);
	pipe__put(&pipe__out, data, len);
	pipe__put32(&pipe__out, pipe__flushing ? 0 : PIPE__INHERIT);
	pipe__counted();
}

void pipe_emit_meta(const void *data, size_t len, const pipe_meta *meta) {
	if (pipe__failed) return;
	if (pipe__open) {
		pipe_fail("pipe_guest: pipe_emit_meta while an output is open (call pipe_out_end first)");
		return;
	}
	pipe__put32(&pipe__out, (uint32_t)len);
	pipe__put(&pipe__out, data, len);
	pipe__put_meta(meta);
	pipe__counted();
}

/* Ends the record being answered: an output left open fails it. */
static void pipe__end_record(void) {
	if (pipe__open)
		pipe_fail("pipe_guest: an output was begun but not ended (call pipe_out_end)");
}

/* ---- metadata */
pipe_meta_it pipe_meta_iter(const pipe_record *rec) {
	pipe_meta_it it = {rec->meta, rec->meta + rec->meta_len, rec->npairs};
	return it;
}

int pipe_meta_next(pipe_meta_it *it, pipe_kv *kv) {
	if (!it->left) return 0;
	it->left--;
	uint32_t n = pipe__rd32(it->p);
	kv->key.ptr = (const char *)it->p + 4;
	kv->key.len = n;
	it->p += 4 + n;
	n = pipe__rd32(it->p);
	kv->value.ptr = (const char *)it->p + 4;
	kv->value.len = n;
	it->p += 4 + n;
	return 1;
}

int pipe_meta_get(const pipe_record *rec, const char *key, size_t keylen, pipe_str *value) {
	pipe_meta_it it = pipe_meta_iter(rec);
	pipe_kv kv;
	while (pipe_meta_next(&it, &kv)) {
		if (kv.key.len == keylen && memcmp(kv.key.ptr, key, keylen) == 0) {
			*value = kv.value;
			return 1;
		}
	}
	return 0;
}

pipe_meta pipe_meta_of(const pipe_record *rec) {
	pipe_meta m = {NULL, 0, 0};
	size_t n = rec ? rec->npairs : 0;
	m.cap = n + 4;
	m.kv = (pipe_kv *)pipe_arena(m.cap * sizeof(pipe_kv));
	if (!m.kv) pipe__oom();
	if (rec) {
		pipe_meta_it it = pipe_meta_iter(rec);
		while (pipe_meta_next(&it, &m.kv[m.len])) m.len++;
	}
	return m;
}

void pipe_meta_set(pipe_meta *m, const char *key, size_t keylen, const char *value, size_t valuelen) {
	for (size_t i = 0; i < m->len; i++) {
		if (m->kv[i].key.len == keylen && memcmp(m->kv[i].key.ptr, key, keylen) == 0) {
			m->kv[i].value.ptr = value;
			m->kv[i].value.len = valuelen;
			return;
		}
	}
	if (m->len == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		pipe_kv *kv = (pipe_kv *)pipe_arena(cap * sizeof(pipe_kv));
		if (!kv) pipe__oom();
		if (m->len) memcpy(kv, m->kv, m->len * sizeof(pipe_kv));
		m->kv = kv;
		m->cap = cap;
	}
	m->kv[m->len].key.ptr = key;
	m->kv[m->len].key.len = keylen;
	m->kv[m->len].value.ptr = value;
	m->kv[m->len].value.len = valuelen;
	m->len++;
}

void pipe_meta_del(pipe_meta *m, const char *key, size_t keylen) {
	for (size_t i = 0; i < m->len; i++) {
		if (m->kv[i].key.len == keylen && memcmp(m->kv[i].key.ptr, key, keylen) == 0) {
			m->kv[i] = m->kv[--m->len];
			return;
		}
	}
}

/* ---- text */
int pipe_ascii_upper(char *p, size_t n) {
	size_t i = 0;
	uint64_t high = 0;
#ifdef __wasm_simd128__
	/* sixteen bytes at a time */
	for (; i + 16 <= n; i += 16) {
		v128_t v = wasm_v128_load(p + i);
		v128_t lower = wasm_v128_and(wasm_u8x16_ge(v, wasm_i8x16_splat('a')), wasm_u8x16_le(v, wasm_i8x16_splat('z')));
		wasm_v128_store(p + i, wasm_v128_xor(v, wasm_v128_and(lower, wasm_i8x16_splat(0x20))));
		high |= (uint64_t)wasm_i8x16_bitmask(v);
	}
#endif
	/* eight bytes at a time: flip 0x20 of the bytes in 'a'..'z' */
	for (; i + 8 <= n; i += 8) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		uint64_t hi = w & 0x8080808080808080ull;
		uint64_t x = w & ~0x8080808080808080ull;
		uint64_t ge = (x + 0x1f1f1f1f1f1f1f1full) & ~hi; /* >= 'a' */
		uint64_t gt = (x + 0x0505050505050505ull) & ~hi; /* > 'z' */
		uint64_t in = ge & ~gt & 0x8080808080808080ull;
		w ^= in >> 2;
		high |= hi;
		memcpy(p + i, &w, 8);
	}
	for (; i < n; i++) {
		if (p[i] >= 'a' && p[i] <= 'z') p[i] ^= 0x20;
		high |= (unsigned char)p[i] & 0x80;
	}
	return high == 0;
}

/* ---- the exports */
static uint64_t pipe__packed(void) {
	if (pipe__out.len == 0) return 0;
	return (uint64_t)(uintptr_t)pipe__out.p << 32 | (uint64_t)pipe__out.len;
}

PIPE__EXPORT("pipe_abi_version") int32_t pipe__abi_version(void) { return PIPE_ABI_VERSION; }

PIPE__EXPORT("pipe_alloc") int32_t pipe__alloc(int32_t size) {
	size_t n = (uint32_t)size;
	if (n > pipe__in.cap) {
		size_t cap = pipe__in.cap ? pipe__in.cap : 64 << 10;
		while (cap < n) cap *= 2;
		free(pipe__in.p); /* the host keeps nothing in it across calls */
		pipe__in.p = (uint8_t *)malloc(cap);
		pipe__in.cap = pipe__in.p ? cap : 0;
		if (!pipe__in.p) return 0;
	}
	if (!pipe__in.p) {
		pipe__in.p = (uint8_t *)malloc(64 << 10);
		if (!pipe__in.p) return 0;
		pipe__in.cap = 64 << 10;
	}
	return (int32_t)(uintptr_t)pipe__in.p;
}

static void pipe__malformed(void) {
	static const char m[] = "pipe_guest: malformed batch from the host";
	pipe__host_log(PIPE_ERROR, m, sizeof m - 1);
	__builtin_trap();
}

PIPE__EXPORT("pipe_transform") int64_t pipe__transform(int32_t ptr, int32_t len) {
	const uint8_t *p = (const uint8_t *)(uintptr_t)(uint32_t)ptr;
	const uint8_t *end = p + (uint32_t)len;
	pipe__out.len = 0;
	pipe__flushing = 0;
	pipe__arena_reset();
	if (end - p < 4) pipe__malformed();
	uint32_t count = pipe__rd32(p);
	p += 4;
	pipe__put32(&pipe__out, count);
	for (uint32_t i = 0; i < count; i++) {
		pipe_record rec;
		if (end - p < 4) pipe__malformed();
		uint32_t n = pipe__rd32(p);
		p += 4;
		if ((size_t)(end - p) < n) pipe__malformed();
		rec.data = (const char *)p;
		rec.len = n;
		p += n;
		if (end - p < 4) pipe__malformed();
		rec.npairs = pipe__rd32(p);
		p += 4;
		rec.meta = p;
		for (uint32_t j = 0; j < 2 * rec.npairs; j++) {
			if (end - p < 4) pipe__malformed();
			n = pipe__rd32(p);
			p += 4;
			if ((size_t)(end - p) < n) pipe__malformed();
			p += n;
		}
		rec.meta_len = (size_t)(p - rec.meta);
		pipe__begin_record();
		pipe_guest_transform(&rec);
		pipe__end_record();
	}
	return (int64_t)pipe__packed();
}

PIPE__EXPORT("pipe_init") int64_t pipe__init(int32_t ptr, int32_t len) {
	pipe__arena_reset();
	if (!pipe_guest_init) return 0;
	pipe__failed = 1; /* no record to answer: pipe_emit and friends do nothing */
	pipe__open = 0;
	const char *err = pipe_guest_init((const char *)(uintptr_t)(uint32_t)ptr, (uint32_t)len);
	pipe__out.len = 0;
	if (!err) return 0;
	size_t n = strlen(err);
	if (n == 0) err = "config rejected", n = strlen(err);
	pipe__put(&pipe__out, err, n);
	return (int64_t)pipe__packed();
}

PIPE__EXPORT("pipe_flush") int64_t pipe__flush(void) {
	pipe__out.len = 0;
	pipe__arena_reset();
	pipe__flushing = 1;
	pipe__begin_record();
	if (pipe_guest_flush) pipe_guest_flush();
	pipe__end_record();
	pipe__flushing = 0;
	return (int64_t)pipe__packed();
}

#endif /* PIPE_GUEST_IMPL */
#endif /* PIPE_GUEST_H */
