package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// arenaStage writes "tag:line" for each record into the output arena the
// engine lends it (OutputArena), in the ways an instance may: followed by
// a newline (a run for the output), without one, outside the arena, into
// a new larger arena when the old one is full; a line "boom" fails the
// whole call (the engine re-runs the batch record by record, writing into
// the arena again) and is then dropped. As the parse stages do, it
// changes records only once the whole call succeeded.
type arenaStage struct {
	tag   string
	arena *[]byte
	lent  int // UseArena calls with an arena, minus those taking it back
}

func (s *arenaStage) UseArena(a *[]byte) {
	if a != nil {
		s.lent++
	} else {
		s.lent--
	}
	s.arena = a
}

func (s *arenaStage) Transform(_ context.Context, r *Record, emit func(*Record)) error {
	r.Data = append([]byte(s.tag+":"), r.Data...)
	emit(r)
	return nil
}

var errBoom = errors.New("boom")

func (s *arenaStage) TransformBatch(_ context.Context, recs []*Record, out *BatchResult) error {
	if s.arena == nil || s.lent != 1 {
		return Fatal(fmt.Errorf("TransformBatch without exactly one arena lent (%d)", s.lent))
	}
	a := s.arena
	// Records are changed once the call succeeded: a failed call is re-run
	// from the records as they were.
	datas := make([][]byte, len(recs))
	for i, r := range recs {
		if strings.HasSuffix(string(r.Data), "boom") {
			if len(recs) > 1 {
				*a = append(*a, "garbage"...)
				return errBoom
			}
			continue // dropped
		}
		n := len(s.tag) + 1 + len(r.Data)
		if cap(*a)-len(*a) < n+1 {
			*a = make([]byte, 0, 2*cap(*a)+n+1)
		}
		switch num := r.Number(); {
		case num%5 == 0: // outside the arena
			datas[i] = append([]byte(s.tag+":"), r.Data...)
		case num%7 == 0: // in the arena, no newline after it
			s0 := len(*a)
			*a = append(append(append(*a, s.tag...), ':'), r.Data...)
			datas[i] = (*a)[s0:len(*a):len(*a)]
			*a = append(*a, 'X')
		default:
			s0 := len(*a)
			*a = append(append(append(*a, s.tag...), ':'), r.Data...)
			datas[i] = (*a)[s0:len(*a):len(*a)]
			*a = append(*a, '\n')
		}
	}
	for i, r := range recs {
		if datas[i] != nil {
			r.Data = datas[i]
			out.Emit(i, r)
		}
	}
	return nil
}

// A chain of stages writing into the output arena, with 1 and 2 workers:
// every record comes out whole and in order, the arena is lent for each
// batch call only, and the records the stages wrote into an arena that
// was later replaced or reused are not overwritten.
func TestOutputArena(t *testing.T) {
	var in, want strings.Builder
	for i := 1; i <= 20000; i++ {
		line := fmt.Sprintf("line %d %s", i, strings.Repeat("x", i%300))
		if i%997 == 0 {
			line = "x boom"
		}
		in.WriteString(line + "\n")
		if line != "x boom" {
			want.WriteString("b:a:" + line + "\n")
		}
	}
	for _, workers := range []int{1, 2} {
		p, err := Build(&Spec{Input: InputSpec{Codec: "lines"}, Output: OutputSpec{Codec: "lines"},
			Stages: []StageSpec{
				goStageSpec("a", workers, func() Transformer { return &arenaStage{tag: "a"} }),
				goStageSpec("b", workers, func() Transformer { return &arenaStage{tag: "b"} }),
			}})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := p.RunReader(context.Background(), strings.NewReader(in.String()), &out); err != nil {
			t.Fatal(err)
		}
		if out.String() != want.String() {
			g, w := strings.Split(out.String(), "\n"), strings.Split(want.String(), "\n")
			for i := range min(len(g), len(w)) {
				if g[i] != w[i] {
					t.Fatalf("workers %d: line %d: %.80q, want %.80q", workers, i+1, g[i], w[i])
				}
			}
			t.Fatalf("workers %d: %d lines, want %d", workers, len(g), len(w))
		}
	}
}

// A written batch gives its output arena to outArenas, not to the batch
// pool: a batch taken from the pool holds none (the input's read-ahead
// and the queues before an arena stage carry no output room), and the next
// arena stage's batch gets the kept one, empty. An arena too large to keep
// is dropped.
func TestOutArenasApartFromBatches(t *testing.T) {
	b := getBatch()
	b.out = append(make([]byte, 0, 4096), "rec\n"...)
	putBatch(b)
	if nb := getBatch(); cap(nb.out) != 0 {
		t.Errorf("a pooled batch holds an output arena of %d bytes", cap(nb.out))
	} else {
		putBatch(nb)
	}
	// (sync.Pool may drop what it holds at any collection: look a few times)
	got := false
	for range 10 {
		a := getOutArena()
		if cap(a) == 4096 && len(a) == 0 {
			got = true
			break
		}
		putOutArena(append(make([]byte, 0, 4096), "x\n"...))
	}
	if !got {
		t.Error("the written batch's arena was not kept for the next one")
	}
	putOutArena(make([]byte, 0, maxOutputArena+1))
	for range 3 {
		if a := getOutArena(); cap(a) > maxOutputArena {
			t.Fatalf("an arena of %d bytes was kept", cap(a))
		}
	}
}
