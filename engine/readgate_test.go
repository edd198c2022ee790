package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
)

// signalReader is stdin during a signal: the run is cancelled during the
// second read. With waitFlush that read returns only once the stages'
// input has ended (a read that outlives the stop); without, it returns at
// once (a busy pipe: cat big | pipe).
type signalReader struct {
	cancel    context.CancelFunc
	waitFlush bool
	flushed   <-chan struct{} // the stages' input ended
	release   chan struct{}
	reads     int
}

func (s *signalReader) Read(b []byte) (int, error) {
	s.reads++
	switch s.reads {
	case 1:
		return copy(b, numbered(100)), nil
	case 2:
		s.cancel() // the signal arrives during this read
		if s.waitFlush {
			<-s.flushed
		}
		return copy(b, strings.ReplaceAll(numbered(100), "r0", "s0")), nil
	}
	<-s.release // blocks like a quiet pipe
	return 0, io.EOF
}

type flushSignal struct {
	once sync.Once
	ch   chan struct{}
}

func (f *flushSignal) Transform(_ context.Context, r *Record, emit func(*Record)) error {
	emit(r)
	return nil
}

func (f *flushSignal) Flush(context.Context, func(*Record)) error {
	f.once.Do(func() { close(f.ch) })
	return nil
}

// Records read before the run stopped taking input are all written (issue
// 17 item 1): the input stops only once the reader has handed on what it
// read; a read still blocked after a grace is given up, and what it
// returns later is neither counted nor written.
func TestCancelKeepsRecordsBeingFramed(t *testing.T) {
	for _, c := range []struct {
		name      string
		waitFlush bool
		want      int // records written
	}{
		{"read returns at once", false, 200},
		{"read outlives the stop", true, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			readerDone := make(chan struct{})
			testHookSourceDone = func() { close(readerDone) }
			defer func() { testHookSourceDone = nil }()
			fs := &flushSignal{ch: make(chan struct{})}
			p, err := Build(&Spec{Stages: []StageSpec{goStageSpec("pass", 1, func() Transformer { return fs })}})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			src := &signalReader{cancel: cancel, waitFlush: c.waitFlush, flushed: fs.ch, release: make(chan struct{})}
			defer close(src.release)
			var out bytes.Buffer
			err = p.RunReader(ctx, src, &out)
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("RunReader = %v, want context.Canceled", err)
			}
			<-readerDone // whatever the reader still frames is counted by now
			lines := strings.Count(out.String(), "\n")
			if in := p.Stats()[0].In; int64(lines) != in || lines != c.want {
				t.Fatalf("counted %d records in, wrote %d; want %d, every record counted written", in, lines, c.want)
			}
		})
	}
	// A reader blocked in a read is not waited for: the run ends.
	fs2 := &flushSignal{ch: make(chan struct{})}
	p2, _ := Build(&Spec{Stages: []StageSpec{goStageSpec("pass", 1, func() Transformer { return fs2 })}})
	ctx2, cancel2 := context.WithCancel(context.Background())
	blocked := &slowReader{data: []byte(numbered(3)), release: make(chan struct{})}
	defer close(blocked.release)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- p2.RunReader(ctx2, blocked, pw); pw.Close() }()
	got, _ := io.ReadAll(io.LimitReader(pr, int64(len(numbered(3)))))
	cancel2()
	go io.Copy(io.Discard, pr)
	if err := <-done; !errors.Is(err, context.Canceled) || string(got) != numbered(3) {
		t.Fatalf("blocked reader: err %v, got %q", err, got)
	}
}
