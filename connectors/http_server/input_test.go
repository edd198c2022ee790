package httpserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/testkit"
	"github.com/pipe-dev/pipe/stage"
)

// openInput builds and connects the input as the engine does.
func openInput(t *testing.T, fields map[string]any, codec string) *input {
	t.Helper()
	fields["address"] = "127.0.0.1:0"
	in, err := Type.New(engine.ConfigOf(fields), connector.Env{Codec: codec})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(context.Background()) })
	return in.(*input)
}

func TestInputAcks(t *testing.T) {
	in := openInput(t, map[string]any{}, "ndjson")
	tests := []struct {
		name string
		ack  error
		code int
	}{
		{"delivered", nil, 200},
		{"failed", errors.New(`stage "x": record 2: boom`), 500},
		{"not delivered after an earlier failure", fmt.Errorf("batch 3: %w", connector.ErrNotDelivered), 503},
		{"run cancelled", context.Canceled, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := make(chan reply, 1)
			go func() { res <- post(t, in.srv.URL(), []byte("{\"n\":1}\n{\"n\":2}\n"), nil) }()
			b, ack, err := in.ReadBatch(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(b.Records) != 2 || string(b.Records[1].Data) != `{"n":2}` {
				t.Fatalf("batch %+v", b)
			}
			if err := ack(context.Background(), tt.ack); err != nil {
				t.Fatal(err)
			}
			r := <-res
			if r.code != tt.code {
				t.Fatalf("status %d (%+v), want %d", r.code, r.body, tt.code)
			}
			if tt.ack != nil && !strings.Contains(r.body.Error, tt.ack.Error()) {
				t.Errorf("answer %q does not say why (%v)", r.body.Error, tt.ack)
			}
			if r.body.Records != 2 {
				t.Errorf("answer says %d records, want 2", r.body.Records)
			}
		})
	}
}

// TestInputNamesFailedRecord: an acknowledgement error that names a
// record (engine numbering, across requests) names its index in the body.
func TestInputNamesFailedRecord(t *testing.T) {
	in := openInput(t, map[string]any{}, "lines")
	for i, tc := range []struct {
		body  string
		bad   int64 // engine record number
		index int
	}{{"a\nb\n", 2, 1}, {"c\nd\ne\n", 3, 0}} {
		res := make(chan reply, 1)
		go func() { res <- post(t, in.srv.URL(), []byte(tc.body), nil) }()
		_, ack, err := in.ReadBatch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		ack(context.Background(), &stage.StageError{Stage: "check", Record: tc.bad, Err: errors.New("bad value")})
		r := <-res
		if r.code != 500 || len(r.body.Failed) != 1 || r.body.Failed[0].Index != tc.index || r.body.Failed[0].Error != "bad value" {
			t.Errorf("request %d: %d %+v, want 500 naming index %d", i, r.code, r.body, tc.index)
		}
	}
}

func TestInputStopsWithTheRun(t *testing.T) {
	in := openInput(t, map[string]any{}, "lines")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := in.ReadBatch(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadBatch after cancel: %v", err)
	}
	if r := post(t, in.srv.URL(), []byte("late\n"), nil); r.code != 503 {
		t.Errorf("request after the run stopped reading: %d, want 503", r.code)
	}
	if _, _, err := in.ReadBatch(context.Background()); !errors.Is(err, connector.ErrEndOfInput) {
		t.Errorf("ReadBatch of a stopped server: %v, want ErrEndOfInput", err)
	}
}

func TestInputConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]any
		codec  string
		want   string
	}{
		{"unknown field", map[string]any{"adress": "x"}, "lines", "adress"},
		{"both tokens", map[string]any{"bearer_token_env": "A", "bearer_token_file": "f"}, "lines", "not both"},
		{"size", map[string]any{"max_body_bytes": "lots"}, "lines", "lots"},
		{"unset token variable", map[string]any{"bearer_token_env": "HTTP_SERVER_TEST_UNSET"}, "lines", "HTTP_SERVER_TEST_UNSET is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Type.New(engine.ConfigOf(tt.fields), connector.Env{Codec: tt.codec})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
}

func TestInputEvents(t *testing.T) {
	ev := &testkit.Events{}
	in, err := Type.New(engine.ConfigOf(map[string]any{"address": "127.0.0.1:0"}), connector.Env{Codec: "ndjson", Stats: ev})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer in.Close(context.Background())
	srv := in.(*input).srv
	post(t, srv.URL(), []byte("{oops\n"), nil)
	post(t, "http://"+srv.Addr()+"/nope", []byte("{}\n"), nil)
	if ev.Get("status_400") != 1 || ev.Get("status_404") != 1 {
		t.Errorf("status_400 counted %d times, status_404 %d, want once each", ev.Get("status_400"), ev.Get("status_404"))
	}
}
