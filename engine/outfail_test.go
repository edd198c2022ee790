package engine_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/pipe-dev/pipe/connector/connectortest"
	"github.com/pipe-dev/pipe/engine"
)

// fullWriter accepts limit bytes, then fails as a full disk does; a write
// that crosses the limit is short.
type fullWriter struct {
	mu    sync.Mutex
	limit int
	buf   strings.Builder
}

func (w *fullWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	room := w.limit - w.buf.Len()
	if len(p) <= room {
		w.buf.Write(p)
		return len(p), nil
	}
	w.buf.Write(p[:max(room, 0)])
	return max(room, 0), &fs.PathError{Op: "write", Path: "/dev/stdout", Err: syscall.ENOSPC}
}

// TestStreamOutputFailureNotAcked: a stream output's write that fails
// half way (a full disk) fails the run with the write's error; a batch is
// acknowledged as delivered only if all of its records were in what the
// output accepted, and every batch after the failure is not.
func TestStreamOutputFailureNotAcked(t *testing.T) {
	const batches, per = 400, 100
	var lines [][]string
	in := connectortest.NewInput()
	for b := range batches {
		var recs []string
		for i := range per {
			recs = append(recs, fmt.Sprintf("b%03d-%02d", b, i))
		}
		lines = append(lines, recs)
		in.Add(recs...)
	}
	reg := engine.NewRegistry()
	reg.RegisterInput(in.Type("mem"))
	spec, err := engine.Parse([]byte("input: {type: mem}\n"), "p.yaml", engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec, engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Each batch is 800 bytes: the limit falls inside batch 125 (0-based).
	w := &fullWriter{limit: 100_100}
	err = p.Run(context.Background(), nil, w)
	var se *engine.StageError
	if !errors.As(err, &se) || se.Stage != "output" || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("run: %v, want the output's ENOSPC", err)
	}
	written := w.buf.String()
	acks := in.Acks()
	delivered, failed := 0, false
	for i, a := range acks {
		if a.Batch != i {
			t.Fatalf("acknowledgement %d is of batch %d", i, a.Batch)
		}
		if a.Err != nil {
			failed = true
			continue
		}
		if failed {
			t.Fatalf("batch %d acknowledged as delivered after a failed one", i)
		}
		delivered++
		if want := strings.Join(lines[i], "\n") + "\n"; !strings.Contains(written, want) {
			t.Fatalf("batch %d acknowledged as delivered but not all written", i)
		}
	}
	// The input stops reading after the failure: the batches it read are
	// all acknowledged, the last ones as not delivered.
	if delivered == 0 || delivered > 125 || !failed {
		t.Errorf("%d of %d acknowledgements as delivered; want some, all before the batch the disk filled in, and failures after", delivered, len(acks))
	}
	t.Logf("%d of %d batches read were delivered before the disk was full", delivered, len(acks))
}
