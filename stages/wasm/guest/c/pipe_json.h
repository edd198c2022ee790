/*
 * pipe_json.h: a small JSON scanner for C guests (optional; pipe_guest.h
 * does not need it). It never allocates: it finds values in the record's
 * bytes (strings with escapes and nested values are skipped correctly) so a
 * guest can copy the record to its output with a few values replaced,
 * which keeps the bytes a user did not touch exactly as they were.
 *
 * It checks nesting and string termination, not the whole JSON grammar
 * (numbers and literals are taken as they are): pipe's ndjson codec has
 * validated each record already. Every function stays inside [p, end) and
 * reports malformed input instead of reading past it.
 *
 * The string helpers follow Go's semantics, so that guests give the same
 * bytes as pipe's native stages: pj_unescape as gjson, pj_upper as
 * strings.ToUpper (Unicode simple case mapping, through wasi-libc's
 * towupper; invalid UTF-8 becomes U+FFFD), pj_quote as encoding/json.
 */
#ifndef PIPE_JSON_H
#define PIPE_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <wctype.h>
#ifdef __wasm_simd128__
#include <wasm_simd128.h>
#endif

/* A field of an object: key and val span the raw bytes (the key with its
 * quotes); key_escaped says the key holds a backslash. */
typedef struct pj_field {
	const char *key, *key_end;
	const char *val, *val_end;
	int key_escaped;
	int val_escaped; /* a string value holding a backslash */
} pj_field;

/* An iterator over the fields of an object, or the elements of an array. */
typedef struct pj_iter {
	const char *p, *end;
	int n; /* items read so far */
} pj_iter;

static inline int pj_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static inline const char *pj_ws(const char *p, const char *end) {
	while (p < end && pj_blank(*p)) p++;
	return p;
}

/* Reports whether the n bytes at a and b are equal: memcmp, inline (with
 * a constant n it unrolls; wasi-libc's memcmp is a call and a loop). */
static inline __attribute__((always_inline)) int pj_memeq(const char *a, const char *b, size_t n) {
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i]) return 0;
	return 1;
}

/* Returns the end of the string whose opening quote is at p (just past the
 * closing quote), or NULL when it does not end. *escaped is set when it
 * holds a backslash. Built with -msimd128, it looks at 16 bytes a step. */
static inline __attribute__((always_inline)) const char *pj_string_end(const char *p, const char *end, int *escaped) {
	int esc = 0;
	p++;
#ifdef __wasm_simd128__
	const v128_t quote = wasm_i8x16_splat('"'), bs = wasm_i8x16_splat('\\');
	/* the first step is peeled: most strings end in it, and a loop entered
	 * costs an interrupt check under a timeout */
	if (end - p >= 16) {
		v128_t v = wasm_v128_load(p);
		uint32_t m = wasm_i8x16_bitmask(wasm_v128_or(wasm_i8x16_eq(v, quote), wasm_i8x16_eq(v, bs)));
		if (m && p[__builtin_ctz(m)] == '"') {
			if (escaped) *escaped = 0;
			return p + __builtin_ctz(m) + 1;
		}
	}
	while (end - p >= 16) {
		v128_t v = wasm_v128_load(p);
		uint32_t m = wasm_i8x16_bitmask(wasm_v128_or(wasm_i8x16_eq(v, quote), wasm_i8x16_eq(v, bs)));
		if (!m) {
			p += 16;
			continue;
		}
		p += __builtin_ctz(m);
		if (*p == '"') {
			if (escaped) *escaped = esc;
			return p + 1;
		}
		esc = 1;
		p += 2; /* the backslash and the byte it escapes */
	}
#endif
	for (; p < end; p++) {
		if (*p == '"') {
			if (escaped) *escaped = esc;
			return p + 1;
		}
		if (*p == '\\') {
			esc = 1;
			p++;
		}
	}
	return NULL;
}

/* Returns the end of a number or literal at p: the first blank or
 * structural byte. */
static inline __attribute__((always_inline)) const char *pj_scalar_end(const char *p, const char *end) {
#ifdef __wasm_simd128__
	while (end - p >= 16) {
		v128_t v = wasm_v128_load(p);
		v128_t m = wasm_v128_or(wasm_v128_or(wasm_i8x16_eq(v, wasm_i8x16_splat(',')), wasm_i8x16_eq(v, wasm_i8x16_splat('}'))),
		                        wasm_v128_or(wasm_i8x16_eq(v, wasm_i8x16_splat(']')), wasm_i8x16_eq(v, wasm_i8x16_splat(':'))));
		m = wasm_v128_or(m, wasm_v128_or(wasm_i8x16_eq(v, wasm_i8x16_splat('"')), wasm_i8x16_eq(v, wasm_i8x16_splat('{'))));
		m = wasm_v128_or(m, wasm_i8x16_eq(v, wasm_i8x16_splat('[')));
		m = wasm_v128_or(m, wasm_u8x16_le(v, wasm_i8x16_splat(' '))); /* blanks (and other controls) */
		uint32_t bits = wasm_i8x16_bitmask(m);
		if (bits) return p + __builtin_ctz(bits);
		p += 16;
	}
#endif
	while (p < end && (unsigned char)*p > ' ' && *p != ',' && *p != '}' && *p != ']' && *p != ':' && *p != '"' &&
	       *p != '{' && *p != '[')
		p++;
	return p;
}

/* Returns the end of the JSON value starting at p (no leading blanks), or
 * NULL when it is malformed or runs past end. */
static inline const char *pj_skip(const char *p, const char *end) {
	if (p >= end) return NULL;
	char c = *p;
	if (c == '"') return pj_string_end(p, end, NULL);
	if (c != '{' && c != '[') { /* number or literal */
		const char *e = pj_scalar_end(p, end);
		return e > p ? e : NULL;
	}
	/* nested: a stack of one bit per level (1 = object), 1024 levels */
	uint64_t stack[16];
	int depth = 0;
	for (; p < end; p++) {
#ifdef __wasm_simd128__
		/* to the next quote or bracket, sixteen bytes a step */
		while (end - p >= 16) {
			v128_t v = wasm_v128_load(p);
			v128_t m = wasm_v128_or(wasm_i8x16_eq(v, wasm_i8x16_splat('"')), wasm_i8x16_eq(v, wasm_i8x16_splat('{')));
			m = wasm_v128_or(m, wasm_v128_or(wasm_i8x16_eq(v, wasm_i8x16_splat('}')), wasm_i8x16_eq(v, wasm_i8x16_splat('['))));
			m = wasm_v128_or(m, wasm_i8x16_eq(v, wasm_i8x16_splat(']')));
			uint32_t bits = wasm_i8x16_bitmask(m);
			if (bits) {
				p += __builtin_ctz(bits);
				break;
			}
			p += 16;
		}
		if (p >= end) break;
#endif
		c = *p;
		if (c == '"') {
			p = pj_string_end(p, end, NULL);
			if (!p) return NULL;
			p--;
		} else if (c == '{' || c == '[') {
			if (depth == 1024) return NULL;
			uint64_t bit = 1ull << (depth & 63);
			if (c == '{') stack[depth >> 6] |= bit;
			else stack[depth >> 6] &= ~bit;
			depth++;
		} else if (c == '}' || c == ']') {
			if (depth == 0) return NULL;
			depth--;
			int obj = (stack[depth >> 6] >> (depth & 63)) & 1;
			if (obj != (c == '}')) return NULL;
			if (depth == 0) return p + 1;
		}
	}
	return NULL;
}

/* Starts iterating the object or array whose opening bracket is at p. */
static inline pj_iter pj_iter_of(const char *p, const char *end) {
	pj_iter it = {p + 1, end, 0};
	return it;
}

/* Reads the next field of an object: 1 with *f set, 0 at the closing brace
 * (it->p is then just past it), -1 when malformed. */
static inline int pj_next_field(pj_iter *it, pj_field *f) {
	const char *p = pj_ws(it->p, it->end), *end = it->end;
	if (p >= end) return -1;
	if (*p == '}') {
		it->p = p + 1;
		return 0;
	}
	if (it->n > 0) {
		if (*p != ',') return -1;
		p = pj_ws(p + 1, end);
	}
	if (p >= end || *p != '"') return -1;
	f->key = p;
	f->key_end = pj_string_end(p, end, &f->key_escaped);
	if (!f->key_end) return -1;
	p = pj_ws(f->key_end, end);
	if (p >= end || *p != ':') return -1;
	p = pj_ws(p + 1, end);
	f->val = p;
	f->val_escaped = 0;
	if (p < end && *p == '"') f->val_end = pj_string_end(p, end, &f->val_escaped); /* the common cases inline */
	else if (p < end && *p != '{' && *p != '[') f->val_end = pj_scalar_end(p, end), f->val_end = f->val_end > p ? f->val_end : NULL;
	else f->val_end = pj_skip(p, end);
	if (!f->val_end) return -1;
	it->p = f->val_end;
	it->n++;
	return 1;
}

/* Reads the next element of an array: 1 with [*v, *v_end) set, 0 at the
 * closing bracket, -1 when malformed. */
static inline int pj_next_elem(pj_iter *it, const char **v, const char **v_end) {
	const char *p = pj_ws(it->p, it->end), *end = it->end;
	if (p >= end) return -1;
	if (*p == ']') {
		it->p = p + 1;
		return 0;
	}
	if (it->n > 0) {
		if (*p != ',') return -1;
		p = pj_ws(p + 1, end);
	}
	*v = p;
	if (p < end && *p == '"') *v_end = pj_string_end(p, end, NULL); /* the common cases inline */
	else if (p < end && *p != '{' && *p != '[') *v_end = pj_scalar_end(p, end), *v_end = *v_end > p ? *v_end : NULL;
	else *v_end = pj_skip(p, end);
	if (!*v_end) return -1;
	it->p = *v_end;
	it->n++;
	return 1;
}

static inline int pj_hex4(const char *s) {
	int r = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
		if (d < 0) return 0; /* as gjson: a bad escape reads as U+0000 */
		r = r << 4 | d;
	}
	return r;
}

static inline size_t pj_put_utf8(char *d, uint32_t r) {
	if (r >= 0xD800 && r <= 0xDFFF) r = 0xFFFD;
	if (r > 0x10FFFF) r = 0xFFFD;
	if (r < 0x80) {
		d[0] = (char)r;
		return 1;
	}
	if (r < 0x800) {
		d[0] = (char)(0xC0 | r >> 6);
		d[1] = (char)(0x80 | (r & 0x3F));
		return 2;
	}
	if (r < 0x10000) {
		d[0] = (char)(0xE0 | r >> 12);
		d[1] = (char)(0x80 | (r >> 6 & 0x3F));
		d[2] = (char)(0x80 | (r & 0x3F));
		return 3;
	}
	d[0] = (char)(0xF0 | r >> 18);
	d[1] = (char)(0x80 | (r >> 12 & 0x3F));
	d[2] = (char)(0x80 | (r >> 6 & 0x3F));
	d[3] = (char)(0x80 | (r & 0x3F));
	return 4;
}

/* Decodes the contents of the raw string [s, e) (without its quotes) into
 * dst, which needs e - s bytes; returns the length. As gjson: a lone or
 * mismatched surrogate becomes U+FFFD, decoding stops at a control byte or
 * a bad escape. */
static inline size_t pj_unescape(const char *s, const char *e, char *dst) {
	char *d = dst;
	while (s < e) {
		unsigned char c = (unsigned char)*s;
		if (c < ' ') break;
		if (c != '\\') {
			*d++ = (char)c;
			s++;
			continue;
		}
		if (++s >= e) break;
		switch (*s) {
		case '\\': *d++ = '\\'; break;
		case '/': *d++ = '/'; break;
		case 'b': *d++ = '\b'; break;
		case 'f': *d++ = '\f'; break;
		case 'n': *d++ = '\n'; break;
		case 'r': *d++ = '\r'; break;
		case 't': *d++ = '\t'; break;
		case '"': *d++ = '"'; break;
		case 'u': {
			if (e - s < 5) return (size_t)(d - dst);
			uint32_t r = (uint32_t)pj_hex4(s + 1);
			s += 4;
			if (r >= 0xD800 && r <= 0xDFFF) {
				if (e - s >= 7 && s[1] == '\\' && s[2] == 'u') {
					uint32_t r2 = (uint32_t)pj_hex4(s + 3);
					s += 6;
					if (r < 0xDC00 && r2 >= 0xDC00 && r2 <= 0xDFFF) r = 0x10000 + ((r - 0xD800) << 10) + (r2 - 0xDC00);
					else r = 0xFFFD;
				} else {
					r = 0xFFFD;
				}
			}
			d += pj_put_utf8(d, r);
			break;
		}
		default: return (size_t)(d - dst);
		}
		s++;
	}
	return (size_t)(d - dst);
}

/* Reports whether the raw string token [s, e) (with its quotes) equals the
 * plain text name (escapes decoded). A key with escapes is decoded on the
 * stack, up to 256 raw bytes: enough for any spelling of a name of up to 42
 * bytes (an escape is at most 6 bytes a byte). */
static inline __attribute__((always_inline)) int pj_str_eq(const char *s, const char *e, int escaped, const char *name, size_t n) {
	if (e - s < 2) return 0;
	s++, e--;
	if (!escaped) return (size_t)(e - s) == n && pj_memeq(s, name, n);
	if ((size_t)(e - s) > 256 || (size_t)(e - s) < n) return 0;
	char buf[256];
	size_t m = pj_unescape(s, e, buf);
	return m == n && pj_memeq(buf, name, n);
}

/* Finds the first top-level field called name in the object at obj
 * (opening brace): 1 with *f set, 0 when there is none, -1 when the object
 * is malformed. */
static inline int pj_find(const char *obj, const char *end, const char *name, size_t n, pj_field *f) {
	pj_iter it = pj_iter_of(obj, end);
	int r;
	while ((r = pj_next_field(&it, f)) == 1)
		if (pj_str_eq(f->key, f->key_end, f->key_escaped, name, n)) return 1;
	return r;
}

/* Decodes one UTF-8 sequence at s (n > 0 bytes left) as Go does: *r is the
 * rune, or -1 for an invalid byte; returns the bytes consumed. */
static inline size_t pj_rune(const unsigned char *s, size_t n, int32_t *r) {
	unsigned char c = s[0];
	if (c < 0x80) {
		*r = c;
		return 1;
	}
	*r = -1;
	if (c < 0xC2 || c > 0xF4) return 1;
	if (c < 0xE0) {
		if (n < 2 || (s[1] & 0xC0) != 0x80) return 1;
		*r = (c & 0x1F) << 6 | (s[1] & 0x3F);
		return 2;
	}
	unsigned char lo = 0x80, hi = 0xBF;
	if (c == 0xE0) lo = 0xA0;
	else if (c == 0xED) hi = 0x9F;
	else if (c == 0xF0) lo = 0x90;
	else if (c == 0xF4) hi = 0x8F;
	if (n < 2 || s[1] < lo || s[1] > hi) return 1;
	if (c < 0xF0) {
		if (n < 3 || (s[2] & 0xC0) != 0x80) return 1;
		*r = (c & 0x0F) << 12 | (s[1] & 0x3F) << 6 | (s[2] & 0x3F);
		return 3;
	}
	if (n < 4 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 1;
	*r = (c & 0x07) << 18 | (s[1] & 0x3F) << 12 | (s[2] & 0x3F) << 6 | (s[3] & 0x3F);
	return 4;
}

/* Returns the upper case of rune r as Go's unicode.ToUpper: wasi-libc's
 * towupper, except where its tables (older Unicode; and ß to ẞ) differ from
 * Go's, which a test checks over every rune. */
static inline uint32_t pj_toupper(uint32_t r) {
	if (r == 0xDF) return r;
	if (r >= 0x24D0 && r <= 0x24E9) return r - 26; /* circled letters */
	if (r == 0x2C5F) return 0x2C2F;
	if (r >= 0xA7C1 && r <= 0xA7F6) {
		switch (r) {
		case 0xA7C1: case 0xA7C8: case 0xA7CA: case 0xA7D1: case 0xA7D7: case 0xA7D9: case 0xA7F6: return r - 1;
		}
	}
	if (r >= 0x10597 && r <= 0x105BC && r != 0x105A2 && r != 0x105B2 && r != 0x105BA) return r - 0x27; /* Vithkuqi */
	return (uint32_t)towupper((wint_t)r);
}

/* Upper-cases the UTF-8 text [s, s+n) into dst (room for 3n bytes) as Go's
 * strings.ToUpper; returns the length. */
static inline size_t pj_upper(const char *s, size_t n, char *dst) {
	const unsigned char *u = (const unsigned char *)s;
	char *d = dst;
	size_t i = 0;
	while (i < n) {
		unsigned char c = u[i];
		if (c < 0x80) {
			*d++ = (char)(c >= 'a' && c <= 'z' ? c ^ 0x20 : c);
			i++;
			continue;
		}
		int32_t r;
		i += pj_rune(u + i, n - i, &r);
		d += pj_put_utf8(d, r < 0 ? 0xFFFD : pj_toupper((uint32_t)r));
	}
	return (size_t)(d - dst);
}

/* Reports whether Go's sjson would write the text s as is between quotes
 * (else it encodes it with encoding/json). */
static inline int pj_plain(const char *s, size_t n) {
	size_t i = 0;
#ifdef __wasm_simd128__
	for (; i + 16 <= n; i += 16) {
		v128_t v = wasm_v128_load(s + i);
		v128_t bad = wasm_v128_or(wasm_u8x16_lt(v, wasm_i8x16_splat(' ')), wasm_u8x16_gt(v, wasm_i8x16_splat(0x7f)));
		bad = wasm_v128_or(bad, wasm_v128_or(wasm_i8x16_eq(v, wasm_i8x16_splat('"')), wasm_i8x16_eq(v, wasm_i8x16_splat('\\'))));
		if (wasm_v128_any_true(bad)) return 0;
	}
#endif
	for (; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c < ' ' || c > 0x7f || c == '"' || c == '\\') return 0;
	}
	return 1;
}

/* Writes the text [s, s+n) as a JSON string, quotes included, exactly as
 * Go's encoding/json.Marshal (HTML-safe) into dst (room for 6n + 2 bytes);
 * returns the length. */
static inline size_t pj_quote(const char *s, size_t n, char *dst) {
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	char *d = dst;
	*d++ = '"';
	size_t i = 0;
	while (i < n) {
		unsigned char c = u[i];
		if (c < 0x80) {
			i++;
			if (c >= ' ' && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&') {
				*d++ = (char)c;
				continue;
			}
			*d++ = '\\';
			switch (c) {
			case '"': case '\\': *d++ = (char)c; break;
			case '\b': *d++ = 'b'; break;
			case '\f': *d++ = 'f'; break;
			case '\n': *d++ = 'n'; break;
			case '\r': *d++ = 'r'; break;
			case '\t': *d++ = 't'; break;
			default:
				*d++ = 'u', *d++ = '0', *d++ = '0';
				*d++ = hex[c >> 4], *d++ = hex[c & 15];
			}
			continue;
		}
		int32_t r;
		size_t w = pj_rune(u + i, n - i, &r);
		if (r < 0) {
			memcpy(d, "\\ufffd", 6);
			d += 6;
		} else if (r == 0x2028 || r == 0x2029) {
			memcpy(d, r == 0x2028 ? "\\u2028" : "\\u2029", 6);
			d += 6;
		} else {
			memcpy(d, s + i, w);
			d += w;
		}
		i += w;
	}
	*d++ = '"';
	return (size_t)(d - dst);
}

#endif /* PIPE_JSON_H */
