package wasm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/pipe-dev/pipe/engine"
)

// ABIVersion is the version of the guest ABI the host implements (ABI.md).
const ABIVersion = 1

// Names of the exports and imports of ABI v1.
const (
	exportMemory    = "memory"
	exportVersion   = "pipe_abi_version"
	exportAlloc     = "pipe_alloc"
	exportTransform = "pipe_transform"
	exportInit      = "pipe_init"
	exportFlush     = "pipe_flush"
	hostModule      = "pipe"
	hostLog         = "log"
	wasiModule      = "wasi_snapshot_preview1"
)

// Result status bytes and the metadata marker of ABI v1.
const (
	statusEmit  = 0
	statusFail  = 1
	metaInherit = math.MaxUint32
)

// batchSize returns the size of recs encoded as a batch.
func batchSize(recs []*engine.Record) uint64 {
	n := uint64(4)
	for _, r := range recs {
		n += 8 + uint64(len(r.Data))
		for k, v := range r.Meta {
			n += 8 + uint64(len(k)) + uint64(len(v))
		}
	}
	return n
}

// encodeBatch writes recs into b, which is batchSize(recs) long.
func encodeBatch(b []byte, recs []*engine.Record) {
	le := binary.LittleEndian
	le.PutUint32(b, uint32(len(recs)))
	o := 4
	put := func(s string) {
		le.PutUint32(b[o:], uint32(len(s)))
		o += 4 + copy(b[o+4:], s)
	}
	for _, r := range recs {
		le.PutUint32(b[o:], uint32(len(r.Data)))
		o += 4 + copy(b[o+4:], r.Data)
		le.PutUint32(b[o:], uint32(len(r.Meta)))
		o += 4
		for k, v := range r.Meta {
			put(k)
			put(v)
		}
	}
}

// errMalformed marks results that do not follow the ABI.
var errMalformed = errors.New("malformed result")

// reader decodes a result buffer; the first error sticks.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w at byte %d: %s", errMalformed, r.off, fmt.Sprintf(format, args...))
	}
}

func (r *reader) u8() byte {
	if r.err != nil {
		return 0
	}
	if len(r.b)-r.off < 1 {
		r.fail("truncated (want a status byte)")
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *reader) u32(what string) uint32 {
	if r.err != nil {
		return 0
	}
	if len(r.b)-r.off < 4 {
		r.fail("truncated (want the 4-byte %s)", what)
		return 0
	}
	r.off += 4
	return binary.LittleEndian.Uint32(r.b[r.off-4:])
}

// bytes returns the next n bytes, capped so appending to them never
// overwrites what follows.
func (r *reader) bytes(n uint32, what string) []byte {
	if r.err != nil {
		return nil
	}
	if uint64(len(r.b)-r.off) < uint64(n) {
		r.fail("%s of %d bytes runs past the end of the %d-byte result", what, n, len(r.b))
		return nil
	}
	s := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return s
}

// count reads a count of items of at least min bytes each, checking that
// they can fit in what is left.
func (r *reader) count(what string, min int) uint32 {
	n := r.u32(what)
	if r.err == nil && uint64(n)*uint64(min) > uint64(len(r.b)-r.off) {
		r.fail("%s %d cannot fit in the %d bytes left", what, n, len(r.b)-r.off)
		return 0
	}
	return n
}

// output is one record of a record result.
type output struct {
	data    []byte
	meta    map[string]string
	inherit bool
}

// recordResult reads one record_result: it appends the outputs to outs, or
// returns the failure message with failed set.
func (r *reader) recordResult(outs []output) (_ []output, msg string, failed bool) {
	switch st := r.u8(); {
	case r.err != nil:
		return outs, "", false
	case st == statusFail:
		msg := r.bytes(r.u32("error message length"), "error message")
		return outs, string(msg), true
	case st != statusEmit:
		r.fail("status %d (want 0 emit or 1 fail)", st)
		return outs, "", false
	}
	n := r.count("record count", 8)
	for range n {
		o := output{data: r.bytes(r.u32("record length"), "record")}
		m := r.u32("metadata count")
		if m == metaInherit {
			o.inherit = true
		} else {
			if r.err == nil && uint64(m)*8 > uint64(len(r.b)-r.off) {
				r.fail("metadata count %d cannot fit in the %d bytes left", m, len(r.b)-r.off)
			}
			if r.err == nil {
				o.meta = make(map[string]string, m)
			}
			for range m {
				k := r.bytes(r.u32("key length"), "metadata key")
				v := r.bytes(r.u32("value length"), "metadata value")
				if r.err == nil {
					o.meta[string(k)] = string(v)
				}
			}
		}
		if r.err != nil {
			return outs, "", false
		}
		outs = append(outs, o)
	}
	return outs, "", false
}

// done checks that the whole buffer was read.
func (r *reader) done() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail("%d bytes left over after the last result", len(r.b)-r.off)
	}
	return r.err
}
