//go:build wasip1

// Package guest is the Go SDK for pipe wasm stages: a guest registers one
// function of a record in init, and the SDK implements ABI v1 (see
// ../ABI.md) around it — the exports pipe_abi_version, pipe_alloc,
// pipe_transform, pipe_init and pipe_flush, the batch encoding and the
// result encoding.
//
// A guest is a main package built as a WASI reactor:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o upper.wasm .
//
//	package main
//
//	import (
//		"bytes"
//
//		"github.com/pipe-dev/pipe/stages/wasm/guest"
//	)
//
//	func init() {
//		guest.Transform(func(rec []byte, meta guest.Meta) ([][]byte, error) {
//			return [][]byte{bytes.ToUpper(rec)}, nil
//		})
//	}
//
//	func main() {}
//
// main is never called (the host runs _initialize, which runs the package
// init functions); register in init.
//
// # Concurrency
//
// The host never calls one instance concurrently (workers: N makes N
// instances), so a guest may keep state in package variables without locks.
package guest

import (
	"encoding/binary"
	"runtime/debug"
	"unsafe"
)

// GCPercent is the guest's garbage collection target (GOGC) the SDK sets
// at start: 50, where Go's default is 100. A guest's live heap is small
// (a batch in, its results out) and its garbage short-lived, so the
// collector runs twice as often for little work, and each instance's
// linear memory, which never shrinks, stays smaller: W1 with two workers,
// 80 MB peak resident against 85 MB at 100, for the same CPU time within
// noise. A guest's own init (package main's runs after the SDK's) may set
// another with debug.SetGCPercent.
const GCPercent = 50

func init() { debug.SetGCPercent(GCPercent) }

// Meta is the metadata of a record. The function may change it (set or
// delete keys); every record it returns carries the metadata as it is when
// the function returns.
type Meta map[string]string

// Func transforms one record. rec is valid only during the call (it points
// into the input buffer that the next batch overwrites): keep a copy if it
// must outlive the call; returning rec or slices of it is fine. meta is
// reused for the next record: do not keep it.
//
// Return the output records: none (nil) drops the record, one passes it,
// several split it (they leave in order). The SDK copies them into the
// call's result before it calls the function again, so the function may
// return slices of buffers it reuses (and reuse the [][]byte): no
// allocation per record. A non-nil error fails the record
// with err.Error() as its message; the stage's on_error policy decides what
// follows.
type Func func(rec []byte, meta Meta) ([][]byte, error)

var (
	transformFn Func
	initFn      func(config []byte) error
	flushFn     func() ([][]byte, error)
)

// Transform registers the guest's transform function. Call it from init.
func Transform(fn Func) { transformFn = fn }

// Init registers a function that receives the stage's config: mapping as
// JSON ("{}" when there is none) once per instance, before the first
// record. An error rejects the config: `pipe lint` reports it.
func Init(fn func(config []byte) error) { initFn = fn }

// Flush registers a function called once per instance at end of stream; the
// records it returns are emitted after every other record, without
// metadata. An error fails the stage.
func Flush(fn func() ([][]byte, error)) { flushFn = fn }

// Log levels for Log.
const (
	LevelDebug = 0
	LevelInfo  = 1
	LevelWarn  = 2
	LevelError = 3
)

//go:wasmimport pipe log
func hostLog(level, ptr, size uint32)

// Log writes msg to the host's log at level, attributed to the stage.
// (Writes to os.Stdout and os.Stderr reach the host log too, line by line.)
func Log(level int, msg string) {
	if len(msg) == 0 {
		return
	}
	hostLog(uint32(level), uint32(uintptr(unsafe.Pointer(unsafe.StringData(msg)))), uint32(len(msg)))
}

// ABIVersion is the version of the ABI this SDK implements.
const ABIVersion = 1

var (
	in  []byte // the input buffer handed out by pipe_alloc
	out []byte // the result of the latest call, kept alive until the next
)

//go:wasmexport pipe_abi_version
func pipeABIVersion() uint32 { return ABIVersion }

//go:wasmexport pipe_alloc
func pipeAlloc(size uint32) uint32 {
	if uint32(cap(in)) < size || cap(in) == 0 {
		in = make([]byte, max(size, 64<<10))
	}
	in = in[:size]
	return ptrOf(in[:cap(in)])
}

func ptrOf(b []byte) uint32 {
	if cap(b) == 0 {
		return 0
	}
	return uint32(uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// packed returns out as the i64 result: address << 32 | length.
func packed(b []byte) uint64 {
	out = b
	if len(b) == 0 {
		return 0
	}
	return uint64(ptrOf(b))<<32 | uint64(len(b))
}

//go:wasmexport pipe_init
func pipeInit(ptr, size uint32) uint64 {
	if initFn == nil {
		return 0
	}
	if err := initFn(in[:size]); err != nil {
		return packed([]byte(err.Error()))
	}
	return packed(nil)
}

//go:wasmexport pipe_flush
func pipeFlush() uint64 {
	b := out[:0]
	if flushFn == nil {
		return packed(append(b, statusEmit, 0, 0, 0, 0))
	}
	recs, err := flushFn()
	if err != nil {
		return packed(appendFail(b, err))
	}
	return packed(appendRecords(b, recs, nil, false))
}

const (
	statusEmit = 0
	statusFail = 1
	inherit    = 0xFFFFFFFF
)

//go:wasmexport pipe_transform
func pipeTransform(ptr, size uint32) uint64 {
	buf := in[:size]
	n, buf := u32(buf)
	res := binary.LittleEndian.AppendUint32(out[:0], n)
	meta := Meta{}
	for range n {
		var data []byte
		var l uint32
		l, buf = u32(buf)
		data, buf = buf[:l:l], buf[l:]
		clear(meta)
		var pairs uint32
		pairs, buf = u32(buf)
		for range pairs {
			var k, v []byte
			l, buf = u32(buf)
			k, buf = buf[:l], buf[l:]
			l, buf = u32(buf)
			v, buf = buf[:l], buf[l:]
			meta[string(k)] = string(v)
		}
		if transformFn == nil {
			res = appendFail(res, errNoTransform)
			continue
		}
		recs, err := transformFn(data, meta)
		if err != nil {
			res = appendFail(res, err)
			continue
		}
		res = appendRecords(res, recs, meta, pairs == 0 && len(meta) == 0)
	}
	return packed(res)
}

type sdkError string

func (e sdkError) Error() string { return string(e) }

const errNoTransform = sdkError("the guest registered no transform function (call guest.Transform in init)")

func u32(b []byte) (uint32, []byte) {
	return binary.LittleEndian.Uint32(b), b[4:]
}

func appendFail(b []byte, err error) []byte {
	msg := err.Error()
	b = append(b, statusFail)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(msg)))
	return append(b, msg...)
}

// appendRecords appends an emit result; unchanged says the metadata was
// and is empty, so the records inherit the input's (none).
func appendRecords(b []byte, recs [][]byte, meta Meta, unchanged bool) []byte {
	b = append(b, statusEmit)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(recs)))
	for _, r := range recs {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(r)))
		b = append(b, r...)
		if unchanged || meta == nil {
			b = binary.LittleEndian.AppendUint32(b, inherit)
			continue
		}
		b = binary.LittleEndian.AppendUint32(b, uint32(len(meta)))
		for k, v := range meta {
			b = binary.LittleEndian.AppendUint32(b, uint32(len(k)))
			b = append(b, k...)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(v)))
			b = append(b, v...)
		}
	}
	return b
}
