package fsync

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFile(t *testing.T) {
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	if err := null.Sync(); err == nil {
		t.Log("this kernel syncs /dev/null without an error")
	}
	if err := File(null); err != nil {
		t.Errorf("File(/dev/null) = %v, want nil", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := File(w); err != nil {
		t.Errorf("File(pipe) = %v, want nil", err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	if err := File(f); err != nil {
		t.Errorf("File(regular) = %v, want nil", err)
	}
	f.Close()
	if err := File(f); err == nil {
		t.Error("File(closed file) = nil, want an error")
	}
}
