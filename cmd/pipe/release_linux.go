package main

import (
	"debug/elf"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// releaseStartupPages unmaps the read-only pages of pipe's own executable
// (code, read-only data, the pc-value tables, the dynamic symbol tables)
// that package initialisation touched, once it is over.
//
// Why: about 500 packages are linked in, and their init functions and the
// type descriptors and stack maps they reach are spread over the whole
// 72 MB binary. The kernel maps 64 KiB around every page fault of a file
// (fault-around), so start-up leaves about 25 MB of the binary resident
// (S0: 182 faults in .text, 167 in .rodata and .gopclntab; see
// bench/NOTES.md), most of it code a run never calls again (connectors,
// runtimes and protocols the pipeline does not use). Dropping the mappings
// after init lets a run fault back only what it executes.
//
// What it does not change: these are clean pages of the page cache,
// shared with every other process mapping the file, and they stay cached;
// it lowers the process's resident set (what `ps`, cgroup limits on RSS
// and `/usr/bin/time -f %M` count) and costs a few hundred minor faults
// (well under a millisecond) as the run maps its code back.
//
// The same pages are released once more releaseAgainAfter after start,
// if the process is still running then: by that time a run has parsed its
// pipeline, compiled its scripts or modules and moved its first batches,
// and what that touched once (the YAML parser, the spec checks, goja's or
// gopher-lua's compiler, a wasm compiler) stays mapped for the rest of the
// run otherwise. js W3 with two workers, 200k records: file-backed resident
// set at the peak 19.6 -> 15.3 MB (bench/NOTES.md). A run shorter than
// that (S0, W0) never pays for it; a longer one pays one madvise and the
// minor faults of mapping its working set back (about 150 faults, well
// under a millisecond).
//
// Only read-only PT_LOAD segments of a non-PIE executable are released:
// writable data (and the RELRO page that the dynamic loader wrote) is
// never touched, and MADV_DONTNEED on a private file mapping that was
// never written only removes page-table entries. Any failure leaves the
// process as it was. PIPE_KEEP_STARTUP_PAGES=1 turns both off;
// PIPE_RELEASE_AGAIN_AFTER (a Go duration such as 250ms) moves the second
// release, e.g. later for a pipeline whose wasm modules take longer to
// compile.
func releaseStartupPages() {
	if os.Getenv("PIPE_KEEP_STARTUP_PAGES") != "" {
		return
	}
	ranges := readOnlySegments()
	release(ranges)
	if len(ranges) > 0 {
		time.AfterFunc(againAfter(os.Getenv("PIPE_RELEASE_AGAIN_AFTER")), func() { release(ranges) })
	}
}

// againAfter is the delay of the second release: v parsed as a positive Go
// duration, releaseAgainAfter when v is empty or not one.
func againAfter(v string) time.Duration {
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	return releaseAgainAfter
}

// releaseAgainAfter is when the pages are released the second time: after
// a pipeline has been built and its scripts compiled (well under 30 ms on
// this machine for every bench workload), and before the peak of a run
// that keeps several batches in flight. 100 ms kept the start-up pages
// through the peak of js W2 with two workers: 200k records, 6 interleaved
// runs each, peak RSS median 31.9 MB at 100 ms, 29.3 MB at 30 ms
// (bench/NOTES.md). S0 and W0 end before it.
const releaseAgainAfter = 30 * time.Millisecond

// readOnlySegments returns the page-aligned [start, end) ranges of the
// executable's read-only PT_LOAD segments; none for a PIE or when the
// program headers cannot be found.
//
// The program headers are read where the kernel mapped them for exec (the
// auxiliary vector's AT_PHDR), not from /proc/self/exe: opening and
// parsing the ELF file (debug/elf reads every section header) cost about
// 0.2 ms of every start (bench/NOTES.md).
func readOnlySegments() [][2]uintptr {
	auxv, err := unix.Auxv()
	if err != nil {
		return nil
	}
	var phdr, phent, phnum uintptr
	for _, kv := range auxv {
		switch kv[0] {
		case atPHDR:
			phdr = kv[1]
		case atPHENT:
			phent = kv[1]
		case atPHNUM:
			phnum = kv[1]
		}
	}
	return segmentsOf(phdr, phent, phnum, uint64(os.Getpagesize()))
}

// Auxiliary vector keys (<linux/auxvec.h>): where the program headers are
// mapped, the size of one and their number.
const (
	atPHDR  = 3
	atPHENT = 4
	atPHNUM = 5
)

// segmentsOf reads phnum program headers of phent bytes each at address
// phdr (the executable's, mapped by the kernel) and returns its read-only
// PT_LOAD ranges, rounded inwards to whole pages. It returns none unless
// the headers describe themselves (PT_PHDR) at the address they are
// mapped at, i.e. the executable is loaded where it was linked (not a PIE).
func segmentsOf(phdr, phent, phnum uintptr, page uint64) [][2]uintptr {
	if phdr == 0 || phent != unsafe.Sizeof(elf.Prog64{}) || phnum == 0 || phnum > 1<<10 {
		return nil
	}
	// The headers are in the executable's own mapping, never in the Go
	// heap; read through a pointer-typed copy of the address.
	progs := unsafe.Slice((*elf.Prog64)(*(*unsafe.Pointer)(unsafe.Pointer(&phdr))), phnum)
	self := false
	for _, p := range progs {
		if elf.ProgType(p.Type) == elf.PT_PHDR {
			self = uintptr(p.Vaddr) == phdr // a PIE would need its load address
		}
	}
	if !self {
		return nil
	}
	var out [][2]uintptr
	for _, p := range progs {
		if elf.ProgType(p.Type) != elf.PT_LOAD || elf.ProgFlag(p.Flags)&elf.PF_W != 0 {
			continue
		}
		start := (p.Vaddr + page - 1) &^ (page - 1)
		end := (p.Vaddr + p.Memsz) &^ (page - 1)
		if end > start {
			out = append(out, [2]uintptr{uintptr(start), uintptr(end)})
		}
	}
	return out
}

// release drops the page-table entries of ranges (MADV_DONTNEED).
func release(ranges [][2]uintptr) {
	for _, r := range ranges {
		_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, r[0], r[1]-r[0], syscall.MADV_DONTNEED)
	}
}
