package main

import (
	"debug/elf"
	"os"
	"syscall"
	"time"
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
// process as it was. PIPE_KEEP_STARTUP_PAGES=1 turns both off.
func releaseStartupPages() {
	if os.Getenv("PIPE_KEEP_STARTUP_PAGES") != "" {
		return
	}
	ranges := readOnlySegments()
	release(ranges)
	if len(ranges) > 0 {
		time.AfterFunc(releaseAgainAfter, func() { release(ranges) })
	}
}

// releaseAgainAfter is when the pages are released the second time.
const releaseAgainAfter = 100 * time.Millisecond

// readOnlySegments returns the page-aligned [start, end) ranges of the
// executable's read-only PT_LOAD segments; none for a PIE or when the
// executable cannot be read.
func readOnlySegments() [][2]uintptr {
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		return nil
	}
	defer f.Close()
	if f.Type != elf.ET_EXEC { // a PIE would need its load address
		return nil
	}
	page := uint64(os.Getpagesize())
	var out [][2]uintptr
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_W != 0 {
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
