package file

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// checkpointVersion is the format of the checkpoint file.
const checkpointVersion = 1

// checkpointFile is what the checkpoint file holds: per input file, the
// position up to which its records were delivered.
type checkpointFile struct {
	Version int          `json:"version"`
	Files   []checkpoint `json:"files"`
}

// checkpoint identifies one input file and its delivered position.
type checkpoint struct {
	Path string `json:"path"` // where it was last seen (informative)
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
	// Fingerprint is the hex SHA-256 of the file's first FPLen bytes: it
	// tells a reused inode from the file that was checkpointed.
	Fingerprint string `json:"fingerprint"`
	FPLen       int64  `json:"fp_len"`
	// Offset is the delivered position: in the decompressed stream for a
	// compressed file.
	Offset int64 `json:"offset"`
}

// CorruptError is returned when the checkpoint file cannot be read as a
// checkpoint (checkpoint_on_corrupt: fail).
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("corrupt checkpoint file %s: %v (delete it to start over, or set checkpoint_on_corrupt: restart)", e.Path, e.Err)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// loadCheckpoint reads path; a missing file is an empty checkpoint.
func loadCheckpoint(path string) ([]checkpoint, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var cf checkpointFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cf); err != nil {
		return nil, &CorruptError{Path: path, Err: err}
	}
	if dec.More() {
		return nil, &CorruptError{Path: path, Err: errors.New("data after the checkpoint")}
	}
	if cf.Version != checkpointVersion {
		return nil, &CorruptError{Path: path, Err: fmt.Errorf("unknown version %d (want %d)", cf.Version, checkpointVersion)}
	}
	for _, c := range cf.Files {
		if c.Offset < 0 || c.FPLen < 0 || c.Ino == 0 {
			return nil, &CorruptError{Path: path, Err: fmt.Errorf("invalid entry for %s", c.Path)}
		}
	}
	return cf.Files, nil
}

// saveCheckpoint writes cps to path atomically: a temporary file in the
// same directory, fsynced, renamed over path, and the directory fsynced.
func saveCheckpoint(path string, cps []checkpoint) error {
	sort.Slice(cps, func(i, j int) bool {
		if cps[i].Dev != cps[j].Dev {
			return cps[i].Dev < cps[j].Dev
		}
		return cps[i].Ino < cps[j].Ino
	})
	data, err := json.MarshalIndent(checkpointFile{Version: checkpointVersion, Files: cps}, "", " ")
	if err != nil {
		return err
	}
	data = append(data, '\n')
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write checkpoint: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write checkpoint %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
