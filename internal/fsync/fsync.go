// Package fsync makes written data durable where the file supports it.
package fsync

import (
	"errors"
	"os"
	"syscall"
)

// File calls f.Sync and returns its error, except when the file cannot be
// synced at all: fsync(2) fails with EINVAL (or ENOTSUP) on pipes,
// sockets and character devices such as /dev/null or a terminal, which
// hold no data to make durable. So `--output /dev/null` or a dead-letter
// file at /dev/stderr is not a failed run, while a regular file's failed
// fsync (EIO, ENOSPC) still is.
func File(f *os.File) error {
	err := f.Sync()
	if err != nil && (errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.ENOTSUP)) {
		if st, serr := f.Stat(); serr == nil && !st.Mode().IsRegular() {
			return nil
		}
	}
	return err
}
