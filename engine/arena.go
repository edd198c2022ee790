package engine

import "sync"

// OutputArena is an optional interface of a compiled-in Go Transformer
// that writes the bytes of the records it emits itself (the native parse
// stages, the script host): the engine lends it memory that belongs to the
// batch being transformed, so that those bytes need no allocation of their
// own and are reused once the batch has been written, as the input's bytes
// are.
//
// Before the TransformBatch calls of a batch the engine calls UseArena
// with a pointer to the batch's output arena (an empty one kept from a
// written batch, or nil: see outArenas), and UseArena(nil) after the
// last of them, before the batch moves on; the instance must not touch the
// arena outside that window. Within it, the instance may append to *a (the
// bytes below len(*a) are records emitted before, by it or by an earlier
// stage, and must not change) or replace *a with a new, empty slice of
// larger capacity when it runs out of room (the old one stays where the
// records in it point). A record whose Data lies in the arena follows the
// ownership rule of stage.Record: it is valid until the batch leaves the
// pipeline, so a stage that keeps it beyond its call copies it.
//
// The ndjson output writes runs of records that lie one after the other in
// the arena, each followed by a newline byte in the arena, with one write
// (as it does for the input's lines), so an instance that emits a record
// per input line should end each one with a newline outside its Data.
// Callers other than the engine (tests, adapters) do not call UseArena:
// the instance then allocates the bytes it emits.
type OutputArena interface {
	UseArena(a *[]byte)
}

// maxOutputArena is the largest output arena kept for reuse.
const maxOutputArena = 1 << 20

// outArenas holds the output arenas of written batches until a stage that
// takes one (OutputArena) gets the next batch. They are kept apart from
// the batch pool: a batch kept its arena there, so every batch in
// circulation (the input's read-ahead and the queues before the stage too,
// which need none) carried 80-130 KiB of output room, 1.4 MB more live
// heap on js W2 with 2 workers (bench/NOTES.md, js6). Only the batches
// between such a stage and the output hold one now, and sync.Pool lets go
// of arenas nobody took for two collections.
var outArenas sync.Pool // of *[]byte

// putOutArena keeps a written batch's output arena (its records are gone)
// for the next batch.
func putOutArena(a []byte) {
	if cap(a) == 0 || cap(a) > maxOutputArena {
		return
	}
	a = a[:0]
	outArenas.Put(&a)
}

// getOutArena returns a kept output arena, empty, or nil.
func getOutArena() []byte {
	if p, ok := outArenas.Get().(*[]byte); ok {
		return *p
	}
	return nil
}
