/* upper: the C SDK's example guest (the wasm README shows it). */
#define PIPE_GUEST_IMPL
#include "pipe_guest.h"

void pipe_guest_transform(const pipe_record *rec) {
	if (rec->len > 0 && rec->data[0] == '#')
		return; /* nothing emitted: dropped */
	if (rec->len > 1000) {
		pipe_fail("line longer than 1000 bytes"); /* on_error decides */
		return;
	}
	pipe_meta meta = pipe_meta_of(rec); /* metadata: read, set, delete */
	pipe_meta_set(&meta, "upper", 5, "yes", 3);
	pipe_out_begin(); /* the output, written in place */
	char *p = pipe_out_reserve(rec->len);
	memcpy(p, rec->data, rec->len);
	pipe_ascii_upper(p, rec->len);
	pipe_out_commit(rec->len);
	pipe_out_end_meta(&meta);
}
