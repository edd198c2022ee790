package wasm

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// compileCacheLimit bounds the compilation cache on disk (the user cache
// directory's pipe/wasm): each process that compiles a module first
// removes the least recently used entries until the rest take at most
// this much. A Go guest's compiled code takes about 15 MB, a C or WAT
// guest's well under 1 MB; without a bound the directory grew by one entry
// per module version and wazero version (1.5-3 GB seen on a development
// machine).
const compileCacheLimit = 256 << 20

// staleTemp is the age after which a temporary file of the cache (an
// entry being written: wazero writes NAME.*.tmp, then renames it) is
// taken for the leftover of a process that died while writing.
const staleTemp = time.Hour

// cacheEntry is a file of the compilation cache.
type cacheEntry struct {
	path string
	size int64
	used time.Time
}

// pruneCache removes files of the compilation cache in dir (entries of
// every wazero version, one directory each) until they take at most limit
// bytes, least recently used first: used is the later of the file's
// modification time (written) and its access time (read: the kernel
// updates it on the first read after a write and then at most daily with
// relatime, so recency is right to a day), where the platform has it.
// Temporary files older than staleTemp go first; younger ones are left to
// their writer. A file that another process removes or replaces meanwhile
// is skipped: a removed entry only costs its module a compilation. It
// returns the number of files removed.
func pruneCache(dir string, limit int64, now time.Time) int {
	var entries []cacheEntry
	var total int64
	removed := 0
	subdirs, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	for _, d := range subdirs {
		if !d.IsDir() || !strings.HasPrefix(d.Name(), "wazero") {
			continue
		}
		files, err := os.ReadDir(filepath.Join(dir, d.Name()))
		if err != nil {
			continue
		}
		for _, f := range files {
			info, err := f.Info()
			if err != nil || !info.Mode().IsRegular() {
				continue
			}
			p := filepath.Join(dir, d.Name(), f.Name())
			if strings.HasSuffix(f.Name(), ".tmp") {
				if now.Sub(info.ModTime()) > staleTemp && os.Remove(p) == nil {
					removed++
				}
				continue
			}
			used := info.ModTime()
			if at, ok := accessTime(info); ok && at.After(used) {
				used = at
			}
			entries = append(entries, cacheEntry{p, info.Size(), used})
			total += info.Size()
		}
	}
	if total <= limit {
		return removed
	}
	slices.SortFunc(entries, func(a, b cacheEntry) int { return a.used.Compare(b.used) })
	for _, e := range entries {
		if total <= limit {
			break
		}
		if os.Remove(e.path) == nil {
			removed++
		}
		total -= e.size
	}
	return removed
}
