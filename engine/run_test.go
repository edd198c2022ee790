package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func goStageSpec(name string, workers int, mk func() Transformer) StageSpec {
	return StageSpec{Name: name, Workers: workers, New: func() (Transformer, error) { return mk(), nil }}
}

var upper = TransformerFunc(func(_ context.Context, r *Record, emit func(*Record)) error {
	r.Data = bytes.ToUpper(r.Data)
	emit(r)
	return nil
})

type tally struct{ n int }

func (t *tally) Transform(_ context.Context, r *Record, emit func(*Record)) error {
	t.n++
	emit(r)
	return nil
}

func (t *tally) Flush(_ context.Context, emit func(*Record)) error {
	emit(NewRecord(fmt.Appendf(nil, "tally=%d", t.n)))
	return nil
}

func numbered(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "r%06d\n", i)
	}
	return b.String()
}

// Order is kept across workers, and every worker's flush output comes
// after all regular records, in worker order.
func TestWorkersOrderAndFlush(t *testing.T) {
	for _, workers := range []int{1, 2, 3, 8} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			p, err := Build(&Spec{Stages: []StageSpec{
				goStageSpec("up", workers, func() Transformer { return upper }),
				goStageSpec("tally", workers, func() Transformer { return &tally{} }),
			}})
			if err != nil {
				t.Fatal(err)
			}
			const n = 20000
			var out bytes.Buffer
			if err := p.RunReader(context.Background(), strings.NewReader(numbered(n)), &out); err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != n+workers {
				t.Fatalf("%d lines out, want %d", len(lines), n+workers)
			}
			for i := range n {
				if want := strings.ToUpper(fmt.Sprintf("r%06d", i)); lines[i] != want {
					t.Fatalf("line %d = %q, want %q", i, lines[i], want)
				}
			}
			total := 0
			for _, l := range lines[n:] {
				var k int
				if _, err := fmt.Sscanf(l, "tally=%d", &k); err != nil {
					t.Fatalf("flush line %q", l)
				}
				total += k
			}
			if total != n {
				t.Errorf("flush tallies add up to %d, want %d", total, n)
			}
			for _, st := range p.Stats() {
				if st.In != st.Passed+st.Dropped+st.Errors {
					t.Errorf("%s: accounting broken: %+v", st.Name, st)
				}
			}
		})
	}
}

// slowReader hands out its data in small pieces, then blocks until closed.
type slowReader struct {
	data    []byte
	release chan struct{}
	reads   atomic.Int64
}

func (s *slowReader) Read(b []byte) (int, error) {
	if len(s.data) == 0 {
		<-s.release // like a terminal or a quiet tail -f
		return 0, io.EOF
	}
	s.reads.Add(1)
	n := copy(b, s.data[:min(len(s.data), 7)])
	s.data = s.data[n:]
	return n, nil
}

// Cancelling the context stops reading, but every record already read
// is processed and written: nothing is lost, even while the reader blocks.
func TestCancelDrainsWhileReaderBlocks(t *testing.T) {
	src := &slowReader{data: []byte(numbered(50)), release: make(chan struct{})}
	defer close(src.release)
	p, err := Build(&Spec{Stages: []StageSpec{goStageSpec("up", 2, func() Transformer { return upper })}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- p.RunReader(ctx, src, pw); pw.Close() }()
	got, lines := []string{}, make(chan string)
	go func() {
		buf := make([]byte, 1<<16)
		var acc string
		for {
			n, err := pr.Read(buf)
			acc += string(buf[:n])
			for {
				i := strings.IndexByte(acc, '\n')
				if i < 0 {
					break
				}
				lines <- acc[:i]
				acc = acc[i+1:]
			}
			if err != nil {
				close(lines)
				return
			}
		}
	}()
	// All 50 records stream through although the input never ends.
	for len(got) < 50 {
		select {
		case l := <-lines:
			got = append(got, l)
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d records streamed through before the input ended", len(got))
		}
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Run = %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel while the reader blocked")
	}
	for i, l := range got {
		if want := strings.ToUpper(fmt.Sprintf("r%06d", i)); l != want {
			t.Fatalf("line %d = %q, want %q", i, l, want)
		}
	}
}

// A stage failure under on_error: fail stops the run with a StageError;
// every record before the failing one is written (as jq or awk would),
// nothing after it, and no downstream stage flushes partial aggregates.
func TestFailStopsRun(t *testing.T) {
	failAt := TransformerFunc(func(_ context.Context, r *Record, emit func(*Record)) error {
		if r.Number() == 5000 {
			return errors.New("boom")
		}
		emit(r)
		return nil
	})
	for _, workers := range []int{1, 3} {
		t.Run(fmt.Sprint(workers), func(t *testing.T) {
			p, err := Build(&Spec{Stages: []StageSpec{
				goStageSpec("up", workers, func() Transformer { return upper }),
				goStageSpec("f", workers, func() Transformer { return failAt }),
				goStageSpec("tally", workers, func() Transformer { return &tally{} }),
			}})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = p.RunReader(context.Background(), strings.NewReader(numbered(20000)), &out)
			var se *StageError
			if !errors.As(err, &se) || se.Record != 5000 || se.Stage != "f" || err.Error() != "stage f (go): record 5000: boom" {
				t.Fatalf("err = %v", err)
			}
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != 4999 {
				t.Fatalf("%d records written, want the 4999 before the failure", len(lines))
			}
			for i, l := range lines {
				if want := strings.ToUpper(fmt.Sprintf("r%06d", i)); l != want {
					t.Fatalf("line %d = %q, want %q", i, l, want)
				}
			}
		})
	}
}

// A transformer that ignores ctx still gets its record failed at the
// deadline's end (it returns late; its output is discarded). The slow
// record returns only after its deadline passed, so no machine is too fast
// or too slow for the test; the timeout is long enough for the others.
func TestTimeoutDiscardsLateOutput(t *testing.T) {
	slow := TransformerFunc(func(ctx context.Context, r *Record, emit func(*Record)) error {
		if string(r.Data) == "slow" {
			<-ctx.Done() // then returns as if it had not noticed
		}
		emit(r)
		return nil
	})
	to := time.Second
	sp := goStageSpec("s", 1, func() Transformer { return slow })
	sp.Timeout, sp.OnError = &to, OnErrorDrop
	p, err := Build(&Spec{Stages: []StageSpec{sp}})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader("a\nslow\nb\n"), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "a\nb\n" {
		t.Errorf("output %q, want the slow record failed", out.String())
	}
	if st := p.Stats()[1]; st.Timeouts != 1 {
		t.Errorf("stats %+v, want 1 timeout", st)
	}
}

// Records larger than the read buffer and records of every size up to the
// limit survive the trip byte for byte.
func TestLongLinesRoundTrip(t *testing.T) {
	var in strings.Builder
	for i := range 40 {
		in.WriteString(strings.Repeat(string(rune('a'+i%26)), i*9000))
		in.WriteByte('\n')
	}
	p, err := Build(&Spec{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader(in.String()), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != in.String() {
		t.Errorf("long lines changed on the way (%d bytes in, %d out)", in.Len(), out.Len())
	}
}

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, fmt.Errorf("write: %w", errPipe) }

var errPipe = errBrokenPipe()

// A reader that goes away (| head -1) ends the run quietly.
func TestOutputClosed(t *testing.T) {
	p, _ := Build(&Spec{})
	err := p.RunReader(context.Background(), strings.NewReader(numbered(300000)), brokenWriter{})
	if !IsOutputClosed(err) {
		t.Fatalf("err = %v, want an output-closed error", err)
	}
}

// The lines path makes no heap allocation per record: reading, framing,
// a stage hop with its timeout armed and writing allocate per batch only.
func TestLinesPathAllocatesPerBatchNotPerRecord(t *testing.T) {
	const records = 50_000
	in := bytes.Repeat([]byte("a line of text that a stage passes on\n"), records)
	pass := TransformerFunc(func(_ context.Context, r *Record, emit func(*Record)) error {
		emit(r)
		return nil
	})
	timeout := time.Second
	p, err := Build(&Spec{Stages: []StageSpec{{Name: "pass", Timeout: &timeout, New: func() (Transformer, error) { return pass, nil }}}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	run := func() {
		if err := p.RunReader(context.Background(), bytes.NewReader(in), io.Discard); err != nil {
			t.Fatal(err)
		}
	}
	run() // warm the batch pools
	perRecord := testing.AllocsPerRun(5, run) / records
	if perRecord > 0.02 {
		t.Errorf("%.4f allocations per record, want per batch only (under 0.02: one per 50 records)", perRecord)
	}
}
