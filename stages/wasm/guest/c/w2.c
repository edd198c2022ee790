/*
 * w2: the W2 benchmark workload as a C guest (shared/bench/README.md):
 * upper-case the whole line, as Go's bytes.ToUpper (ASCII sixteen bytes a
 * step; other text by Unicode simple case mapping).
 */
#define PIPE_GUEST_IMPL
#include "pipe_guest.h"
#include "pipe_json.h"

void pipe_guest_transform(const pipe_record *rec) {
	size_t n = rec->len;
	pipe_out_begin();
	char *d = pipe_out_reserve(n);
	memcpy(d, rec->data, n);
	if (!pipe_ascii_upper(d, n)) { /* non-ASCII: the Unicode way */
		d = pipe_out_reserve(3 * n);
		pipe_out_commit(pj_upper(rec->data, n, d));
		pipe_out_end();
		return;
	}
	pipe_out_commit(n);
	pipe_out_end();
}
