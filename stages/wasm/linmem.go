package wasm

import (
	"context"
	"sync"

	"github.com/tetratelabs/wazero/experimental"
)

// A linearMemory backs one instance's linear memory outside the Go heap
// where the platform can (see reserve): the whole of memory_limit is
// reserved as address space once, and memory.grow makes more of it
// accessible in place. wazero's own memory is a Go slice that memory.grow
// re-allocates and copies (append), so a Go guest growing its heap to
// 20 MB left a trail of copies for the garbage collector and kept the
// process's heap, and with it its collection goal, large: W1 with the Go
// guest and two workers peaked at 113 MB resident, most of it those
// copies.
//
// The region is released (munmap) by Free, which wazero calls when it
// closes the module. A module can be closed while a call of it runs on
// another goroutine (closing the stage's runtime at shutdown), and compiled
// code must not find its memory unmapped under it: the instance marks its
// calls with enter and leave, and a Free during a call is carried out by
// the call's leave. A memory is made busy (inside InstantiateModule, which
// runs start functions) and the instance's first leave ends that.
type linearMemory struct {
	mu    sync.Mutex
	buf   []byte // the whole reservation; accessible up to size
	size  uint64
	busy  int
	freed bool // Free was called
	gone  bool // released
	free  func([]byte)
	grow  func(buf []byte, from, to uint64) bool
}

// Reallocate implements experimental.LinearMemory: it makes the first size
// bytes accessible (they read as zeros the first time) and returns them;
// nil when size is beyond the reservation or the pages cannot be committed.
func (l *linearMemory) Reallocate(size uint64) []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone || size > uint64(len(l.buf)) {
		return nil
	}
	if size > l.size {
		if !l.grow(l.buf, l.size, size) {
			return nil
		}
		l.size = size
	}
	return l.buf[:size:size]
}

// Free implements experimental.LinearMemory.
func (l *linearMemory) Free() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.freed = true
	l.release()
}

// enter marks a call of the instance as running; false (and no mark)
// when the memory is released already: the module was closed, and its
// compiled code must not run (wazero would let it, on the unmapped memory).
func (l *linearMemory) enter() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.gone {
		return false
	}
	l.busy++
	return true
}

// leave ends what enter (or the making of the memory) began, releasing the
// memory if it was freed meanwhile.
func (l *linearMemory) leave() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy > 0 {
		l.busy--
	}
	l.release()
}

func (l *linearMemory) release() {
	if l.freed && l.busy == 0 && !l.gone {
		l.gone = true
		l.free(l.buf)
		l.buf = nil
	}
}

// memoryAllocator hands wazero the linear memories of one instantiation
// and remembers the one made (a module has at most one memory), or does
// nothing on a platform without reserve.
type memoryAllocator struct {
	made *linearMemory
}

// Allocate implements experimental.MemoryAllocator. A memory that cannot
// be reserved falls back to a Go slice grown by append, wazero's own way.
func (a *memoryAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	if l := reserve(max); l != nil {
		l.busy = 1
		a.made = l
		return l
	}
	return &sliceMemory{max: max, buf: make([]byte, 0, capacity)}
}

// with returns ctx carrying the allocator, for InstantiateModule.
func (a *memoryAllocator) with(ctx context.Context) context.Context {
	if !reserveSupported {
		return ctx
	}
	return experimental.WithMemoryAllocator(ctx, a)
}

// sliceMemory is wazero's own kind of memory: a Go slice, grown by append.
type sliceMemory struct {
	buf []byte
	max uint64
}

func (s *sliceMemory) Reallocate(size uint64) []byte {
	if size > s.max {
		return nil
	}
	if c := uint64(cap(s.buf)); size > c {
		s.buf = append(s.buf[:c], make([]byte, size-c)...)
	} else {
		s.buf = s.buf[:size]
	}
	return s.buf
}

func (s *sliceMemory) Free() {}
