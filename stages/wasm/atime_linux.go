package wasm

import (
	"io/fs"
	"syscall"
	"time"
)

// accessTime returns the access time of the file info describes.
func accessTime(info fs.FileInfo) (time.Time, bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(st.Atim.Sec, st.Atim.Nsec), true
}
