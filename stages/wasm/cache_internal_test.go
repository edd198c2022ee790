package wasm

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestPruneCache: the cache is cut to its limit, least recently used
// first (the later of write and read), across wazero versions; stale
// temporary files go, fresh ones (an entry being written) stay, and other
// files are not touched.
func TestPruneCache(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)
	files := []struct {
		name         string
		size         int
		read, write  time.Duration // before now
		wantRemained bool
	}{
		{"wazero-v1.12.0-amd64-linux/aa", 40, 10 * time.Hour, 10 * time.Hour, false},    // oldest
		{"wazero-v1.12.0-amd64-linux/bb", 40, 1 * time.Hour, 20 * time.Hour, true},      // written long ago, read lately
		{"wazero-v1.11.0-amd64-linux/cc", 40, 9 * time.Hour, 9 * time.Hour, false},      // an old wazero's
		{"wazero-v1.12.0-amd64-linux/dd", 40, 2 * time.Hour, 2 * time.Hour, true},       // recent
		{"wazero-v1.12.0-amd64-linux/ee.1.tmp", 5, 2 * time.Hour, 2 * time.Hour, false}, // a dead writer's
		{"wazero-v1.12.0-amd64-linux/ff.2.tmp", 5, time.Minute, time.Minute, true},      // being written
		{"notes/readme", 500, 30 * time.Hour, 30 * time.Hour, true},                     // not the cache's
	}
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, f.size), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-f.read), now.Add(-f.write)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := accessTime(mustStat(t, filepath.Join(dir, files[1].name))); !ok {
		// Without access times bb counts as written 20 hours ago.
		files[1].wantRemained, files[0].wantRemained = false, true
	}
	if n := pruneCache(dir, 80, now); n != 3 {
		t.Errorf("removed %d files, want 3", n)
	}
	for _, f := range files {
		_, err := os.Stat(filepath.Join(dir, f.name))
		if remained := err == nil; remained != f.wantRemained {
			t.Errorf("%s remained: %v, want %v", f.name, remained, f.wantRemained)
		}
	}
	// Under the limit nothing goes; a missing directory is no error.
	var left []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, _ error) error {
		if !d.IsDir() {
			left = append(left, p)
		}
		return nil
	})
	if n := pruneCache(dir, 1<<20, now); n != 0 {
		t.Errorf("under the limit: removed %d files", n)
	}
	var again []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, _ error) error {
		if !d.IsDir() {
			again = append(again, p)
		}
		return nil
	})
	if !slices.Equal(left, again) {
		t.Errorf("under the limit: files %v, then %v", left, again)
	}
	if n := pruneCache(filepath.Join(dir, "missing"), 0, now); n != 0 {
		t.Errorf("missing directory: removed %d", n)
	}
}

func mustStat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return info
}
