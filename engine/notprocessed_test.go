package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

// failAt fails the record whose data is bad, with err (a plain error or
// a Fatal one).
func failAt(bad string, err error) func() Transformer {
	return func() Transformer {
		return TransformerFunc(func(_ context.Context, r *Record, emit func(*Record)) error {
			if string(r.Data) == bad {
				return err
			}
			emit(r)
			return nil
		})
	}
}

// On every run, whatever stopped it, each row of the stats accounts for
// every record it was handed: In = Passed + Dropped + Errors + NotProcessed
// (issue 17 item 9).
func TestStatsAccountForEveryRecord(t *testing.T) {
	const n = 50000
	input := numbered(n)
	bad := "r002500"
	cases := []struct {
		name         string
		policy       string
		err          error
		out          io.Writer
		cancelAfter  int // cancel the run once this many records were written (0: never)
		wantErr      bool
		notProcessed bool // some records must be reported not processed
	}{
		{name: "fail", policy: OnErrorFail, err: errors.New("bad record"), wantErr: true, notProcessed: true},
		{name: "drop", policy: OnErrorDrop, err: errors.New("bad record")},
		{name: "dead_letter", policy: OnErrorDeadLetter, err: errors.New("bad record")},
		{name: "fatal (a plugin that cannot be restarted)", policy: OnErrorDrop, err: Fatal(errors.New("gone")), wantErr: true, notProcessed: true},
		// The output counts a record passed once it is in its write
		// buffer: a failing flush is not reported per record (yet).
		{name: "output fails", policy: OnErrorDrop, err: errors.New("bad record"), out: diskFull{}, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := &Spec{Stages: []StageSpec{
				goStageSpec("up", 2, func() Transformer { return upper }),
				{Name: "judge", Workers: 3, OnError: c.policy, New: func() (Transformer, error) { return failAt(strings.ToUpper(bad), c.err)(), nil }},
				goStageSpec("up2", 1, func() Transformer { return upper }),
			}}
			if c.policy == OnErrorDeadLetter {
				spec.DeadLetter = &DeadLetterSpec{Path: filepath.Join(t.TempDir(), "dl.ndjson")}
			}
			p, err := Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			out := c.out
			if out == nil {
				out = &bytes.Buffer{}
			}
			err = p.RunReader(context.Background(), strings.NewReader(input), out)
			if (err != nil) != c.wantErr {
				t.Fatalf("run: %v", err)
			}
			checkAccounts(t, p.Stats(), n, c.notProcessed)
		})
	}
	t.Run("cancelled", func(t *testing.T) {
		p, err := Build(&Spec{Stages: []StageSpec{goStageSpec("up", 2, func() Transformer { return upper })}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		src := &slowReader{data: []byte(numbered(20)), release: make(chan struct{})}
		defer close(src.release)
		err = p.RunReader(ctx, src, cancelWriter{cancel})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("run: %v", err)
		}
		checkAccounts(t, p.Stats(), 0, false)
	})
}

func checkAccounts(t *testing.T, stats []StageStats, read int64, notProcessed bool) {
	t.Helper()
	var np int64
	for i, st := range stats {
		if st.In != st.Passed+st.Dropped+st.Errors+st.NotProcessed {
			t.Errorf("%s: in %d != passed %d + dropped %d + errors %d + not processed %d", st.Name, st.In, st.Passed, st.Dropped, st.Errors, st.NotProcessed)
		}
		if i > 0 && st.In != stats[i-1].Out {
			t.Errorf("%s: in %d, but %s handed on %d", st.Name, st.In, stats[i-1].Name, stats[i-1].Out)
		}
		np += st.NotProcessed
	}
	if read > 0 && stats[0].In > read {
		t.Errorf("input in %d, more than the %d records", stats[0].In, read)
	}
	if notProcessed && np == 0 {
		t.Errorf("a stopped run reports no record as not processed: %+v", stats)
	}
}

// diskFull fails every write.
type diskFull struct{}

func (diskFull) Write([]byte) (int, error) {
	return 0, errors.New("disk full")
}

// cancelWriter cancels the run at its first write, like a signal.
type cancelWriter struct{ cancel context.CancelFunc }

func (c cancelWriter) Write(p []byte) (int, error) {
	c.cancel()
	return len(p), nil
}
