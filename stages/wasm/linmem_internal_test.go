package wasm

import (
	"testing"
	"unsafe"
)

// TestLinearMemory: a reserved memory grows in place (same address, new
// bytes zero, old bytes kept), refuses to grow past its reservation, and a
// Free while a call holds it is carried out when the call leaves; after
// that, nothing enters it again.
func TestLinearMemory(t *testing.T) {
	if !reserveSupported {
		t.Skip("no mmap reservation on this platform")
	}
	const page = 64 << 10
	a := &memoryAllocator{}
	lm := a.Allocate(page, 4*page)
	l, ok := lm.(*linearMemory)
	if !ok || a.made != l {
		t.Fatalf("Allocate made %T, not a reserved memory", lm)
	}
	l.leave() // the instantiation's hold
	b := l.Reallocate(page)
	if len(b) != page {
		t.Fatalf("Reallocate(1 page) = %d bytes", len(b))
	}
	b[page-1] = 7
	c := l.Reallocate(3 * page)
	if len(c) != 3*page || unsafe.SliceData(c) != unsafe.SliceData(b) {
		t.Fatalf("grown memory: %d bytes, moved: %v; want 3 pages in place", len(c), unsafe.SliceData(c) != unsafe.SliceData(b))
	}
	if c[page-1] != 7 || c[2*page] != 0 || c[3*page-1] != 0 {
		t.Errorf("after growing: old byte %d, new bytes %d %d; want 7, 0, 0", c[page-1], c[2*page], c[3*page-1])
	}
	if l.Reallocate(5*page) != nil {
		t.Errorf("Reallocate past the reservation succeeded")
	}
	if !l.enter() {
		t.Fatal("enter failed on a live memory")
	}
	l.Free() // e.g. the runtime closed during a call
	if l.gone {
		t.Fatal("Free released the memory while a call held it")
	}
	c[0] = 1 // still mapped
	l.leave()
	if !l.gone || l.enter() {
		t.Errorf("after the call left: gone %v; want released and no more entries", l.gone)
	}
	if l.Reallocate(page) != nil {
		t.Errorf("Reallocate of a released memory succeeded")
	}
}
