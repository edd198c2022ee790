//go:build linux || darwin

package cli

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// stdoutClosed reports whether w is the standard output and file
// descriptor 1 was closed when pipe started (`pipe ... >&-`). The Go
// runtime then opens /dev/null in its place, read-write, so that writes
// would vanish and pipe exit 0; a shell's `> /dev/null` opens it
// write-only, which is left alone.
func stdoutClosed(w io.Writer) bool {
	if f, ok := w.(*os.File); !ok || f != os.Stdout {
		return false
	}
	// Cheapest test first: a file or a pipe is never it, nor a device
	// opened write-only (the shell's > /dev/null).
	var st, null unix.Stat_t
	if unix.Fstat(1, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return false
	}
	if fl, err := unix.FcntlInt(1, unix.F_GETFL, 0); err != nil || fl&unix.O_ACCMODE != unix.O_RDWR {
		return false
	}
	return unix.Stat(os.DevNull, &null) == nil && st.Rdev == null.Rdev
}
