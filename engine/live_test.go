package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// tagged is a stage that prefixes records with its version and counts
// them, emitting the count at flush (state that cannot carry over).
type tagged struct {
	v string
	n int
}

func (t *tagged) Transform(_ context.Context, r *Record, emit func(*Record)) error {
	t.n++
	r.Data = append([]byte(t.v+":"), r.Data...)
	emit(r)
	return nil
}

func (t *tagged) Flush(_ context.Context, emit func(*Record)) error {
	emit(NewRecord(fmt.Appendf(nil, "flush %s %d", t.v, t.n)))
	return nil
}

func version(t *testing.T, v string, workers int, failOpen bool) *Pipeline {
	t.Helper()
	p, err := Build(&Spec{Stages: []StageSpec{
		{Name: "tag", Workers: workers, New: func() (Transformer, error) {
			if failOpen {
				return nil, errors.New("cannot open")
			}
			return &tagged{v: v}, nil
		}},
		goStageSpec("up", 1, func() Transformer { return upper }),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A steady stream through RunLive while the pipeline is replaced three
// times (one replacement broken): every input record comes out exactly
// once, in order, processed by the version that was active when it
// entered, and each retired version flushes.
func TestRunLiveReloads(t *testing.T) {
	pr, pw := io.Pipe()
	outR, outW := io.Pipe()
	reloads := make(chan Reload)
	p := version(t, "v1", 2, false)
	done := make(chan error, 1)
	go func() { done <- p.RunLive(context.Background(), pr, outW, reloads); outW.Close() }()

	var lines []string
	var mu sync.Mutex
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	const n = 6000
	write := func(from, to int) {
		for i := from; i < to; i++ {
			fmt.Fprintf(pw, "r%05d\n", i)
			if i%500 == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	swap := func(next *Pipeline) error {
		res := make(chan error, 1)
		reloads <- Reload{Next: next, Done: res}
		return <-res
	}
	write(0, 1500)
	if err := swap(version(t, "v2", 1, false)); err != nil {
		t.Fatal(err)
	}
	write(1500, 3000)
	if err := swap(version(t, "bad", 1, true)); !errors.Is(err, ErrReloadRefused) {
		t.Fatalf("broken reload: %v, want refused", err)
	}
	write(3000, 4500)
	if err := swap(version(t, "v3", 3, false)); err != nil {
		t.Fatal(err)
	}
	write(4500, n)
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-readDone

	seen, flushes, flushLines := 0, map[string]int{}, 0
	last := "V1"
	for _, l := range lines {
		if strings.HasPrefix(l, "FLUSH ") {
			var v string
			var k int
			fmt.Sscanf(l, "FLUSH %s %d", &v, &k)
			flushes[v] += k
			flushLines++
			continue
		}
		v, rec, ok := strings.Cut(l, ":")
		if !ok || rec != fmt.Sprintf("R%05d", seen) {
			t.Fatalf("record %d is %q: out of order, lost or duplicated", seen, l)
		}
		if v < last {
			t.Fatalf("record %d went through %s after a record went through %s", seen, v, last)
		}
		last = v
		seen++
	}
	if seen != n {
		t.Fatalf("%d records out, want %d", seen, n)
	}
	if flushes["V1"]+flushes["V2"]+flushes["V3"] != n || flushes["V1"] == 0 || flushes["V2"] == 0 || flushes["V3"] == 0 || flushes["BAD"] != 0 {
		t.Errorf("flush counts %v: each version must flush what it saw, %d in all", flushes, n)
	}
	st := p.Stats()          // the whole run: every version's stages added up
	if flushLines != 2+1+3 { // one per worker of each version
		t.Errorf("%d flush records, want 6", flushLines)
	}
	if st[0].In != n || st[len(st)-1].Out != int64(n+flushLines) || st[1].In != n || st[1].Out != int64(n+flushLines) || st[2].In != int64(n+flushLines) {
		t.Errorf("stats %+v, want %d in, %d out, the tag stage %d in (all versions), up %d in", st, n, n+flushLines, n, n+flushLines)
	}
	if st[1].BatchLatency == nil || st[1].Busy == 0 {
		t.Errorf("tag stage: no latency or busy time: %+v", st[1])
	}
}

// A replacement that changes the input is refused.
func TestRunLiveRefusesInputChange(t *testing.T) {
	p := version(t, "v1", 1, false)
	next, _ := Build(&Spec{Input: InputSpec{Codec: CodecNDJSON}})
	reloads := make(chan Reload, 1)
	res := make(chan error, 1)
	reloads <- Reload{Next: next, Done: res}
	pr, pw := io.Pipe()
	var out strings.Builder
	done := make(chan error, 1)
	go func() { done <- p.RunLive(context.Background(), pr, &out, reloads) }()
	if err := <-res; !errors.Is(err, ErrReloadRefused) || !strings.Contains(err.Error(), "input.codec changed (lines → ndjson): cannot apply without a restart") {
		t.Fatalf("err = %v", err)
	}
	fmt.Fprintln(pw, "a")
	pw.Close()
	if err := <-done; err != nil || out.String() != "V1:A\nFLUSH V1 1\n" {
		t.Fatalf("run: %v %q", err, out.String())
	}
}
