package main

import (
	"debug/elf"
	"os"
	"reflect"
	"testing"
	"unsafe"
)

// TestReadOnlySegmentsMatchFile: the ranges read from the program headers
// the kernel mapped are the ones the executable file lists (read with
// debug/elf, as release_linux.go did before).
func TestReadOnlySegmentsMatchFile(t *testing.T) {
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC {
		t.Skip("test binary is not ET_EXEC")
	}
	page := uint64(os.Getpagesize())
	var want [][2]uintptr
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_W != 0 {
			continue
		}
		start := (p.Vaddr + page - 1) &^ (page - 1)
		end := (p.Vaddr + p.Memsz) &^ (page - 1)
		if end > start {
			want = append(want, [2]uintptr{uintptr(start), uintptr(end)})
		}
	}
	got := readOnlySegments()
	if len(want) == 0 || !reflect.DeepEqual(got, want) {
		t.Errorf("readOnlySegments() = %x, want %x (from the file)", got, want)
	}
}

// testProgs is TestSegmentsOf's program headers, in a global: a stack may
// move (and escape analysis may keep a new array on it), their address
// must not.
var testProgs [4]elf.Prog64

// TestSegmentsOf: headers that do not describe themselves at their address
// (a PIE, whose load address is not known here) or of an unexpected size
// give no ranges; read-only loads are rounded inwards to whole pages.
func TestSegmentsOf(t *testing.T) {
	progs := &testProgs
	addr := uintptr(unsafe.Pointer(&progs[0]))
	progs[0] = elf.Prog64{Type: uint32(elf.PT_PHDR), Vaddr: uint64(addr)}
	progs[1] = elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_X), Vaddr: 0x400100, Memsz: 0x3000}
	progs[2] = elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R | elf.PF_W), Vaddr: 0x800000, Memsz: 0x2000}
	progs[3] = elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(elf.PF_R), Vaddr: 0x900000, Memsz: 0x800}
	size := unsafe.Sizeof(progs[0])
	if got, want := segmentsOf(addr, size, 4, 0x1000), [][2]uintptr{{0x401000, 0x403000}}; !reflect.DeepEqual(got, want) {
		t.Errorf("segmentsOf = %x, want %x", got, want)
	}
	for name, args := range map[string][3]uintptr{
		"no address":        {0, size, 4},
		"other header size": {addr, size - 8, 4},
		"no headers":        {addr, size, 0},
		"no PT_PHDR":        {addr + size, size, 3},
	} {
		if got := segmentsOf(args[0], args[1], args[2], 0x1000); got != nil {
			t.Errorf("%s: segmentsOf = %x, want none", name, got)
		}
	}
	progs[0].Vaddr += 0x1000 // loaded elsewhere than linked: a PIE
	if got := segmentsOf(addr, size, 4, 0x1000); got != nil {
		t.Errorf("PIE: segmentsOf = %x, want none", got)
	}
}
