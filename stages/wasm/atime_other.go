//go:build !linux

package wasm

import (
	"io/fs"
	"time"
)

// accessTime reports no access time: the cache is pruned by modification
// time alone.
func accessTime(fs.FileInfo) (time.Time, bool) { return time.Time{}, false }
