package engine

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/stage"
)

// resettable hangs on the record "hang" until its ctx is done, and records
// the order of its calls.
type resettable struct {
	calls    []string
	resetErr error
	broken   bool // set by an interrupted call, cleared by Reset
}

func (r *resettable) Transform(ctx context.Context, rec *Record, emit func(*Record)) error {
	if r.broken {
		return errors.New("called while broken")
	}
	r.calls = append(r.calls, "transform "+string(rec.Data))
	if string(rec.Data) == "hang" {
		<-ctx.Done()
		r.broken = true
		return ctx.Err()
	}
	emit(rec)
	return nil
}

func (r *resettable) Reset(ctx context.Context) error {
	r.calls = append(r.calls, "reset")
	if r.resetErr != nil {
		return r.resetErr
	}
	r.broken = false
	return nil
}

var _ stage.Resetter = (*resettable)(nil)

// TestResetAfterTimeout: an instance that implements stage.Resetter is
// reset after the call its timeout interrupted and before its next call,
// and never otherwise; a failed reset stops the pipeline whatever on_error.
func TestResetAfterTimeout(t *testing.T) {
	for _, tt := range []struct {
		name      string
		resetErr  error
		wantOut   string
		wantCalls string
		wantErr   string
	}{
		{"reset", nil, "a\nb\n", "transform a|transform hang|reset|transform b", ""},
		{"reset fails", errors.New("runtime gone"), "a\n", "transform a|transform hang|reset", "reset after a timeout: runtime gone"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := &resettable{resetErr: tt.resetErr}
			to := 30 * time.Millisecond
			sp := goStageSpec("s", 1, func() Transformer { return r })
			sp.Timeout, sp.OnError = &to, OnErrorDrop
			p, err := Build(&Spec{Stages: []StageSpec{sp}})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = p.RunReader(context.Background(), strings.NewReader("a\nhang\nb\n"), &out)
			if tt.wantErr == "" && err != nil {
				t.Fatal(err)
			}
			if tt.wantErr != "" {
				var se *StageError
				if !errors.As(err, &se) || se.Stage != "s" || !errors.Is(err, ErrFatal) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want a fatal *StageError of stage s saying %q", err, tt.wantErr)
				}
			}
			if got := strings.Join(r.calls, "|"); got != tt.wantCalls {
				t.Errorf("calls %s, want %s", got, tt.wantCalls)
			}
			if tt.wantErr == "" && out.String() != tt.wantOut {
				t.Errorf("output %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}
