//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package wasm

import (
	"golang.org/x/sys/unix"
)

const reserveSupported = true

// reserve maps max bytes of address space, inaccessible (PROT_NONE, which
// commits no memory), or returns nil if it cannot. Growing makes pages
// readable and writable; a page uses memory only once touched.
func reserve(max uint64) *linearMemory {
	if max == 0 || max > 1<<32 || uint64(int(max)) != max {
		return nil
	}
	buf, err := unix.Mmap(-1, 0, int(max), unix.PROT_NONE, unix.MAP_PRIVATE|unix.MAP_ANON)
	if err != nil {
		return nil
	}
	return &linearMemory{buf: buf,
		grow: func(buf []byte, from, to uint64) bool {
			// wasm pages (64 KiB) are whole OS pages: from and to are
			// page-aligned.
			return unix.Mprotect(buf[from:to], unix.PROT_READ|unix.PROT_WRITE) == nil
		},
		free: func(buf []byte) { _ = unix.Munmap(buf) },
	}
}
