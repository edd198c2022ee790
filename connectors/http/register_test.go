package httpout

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/testkit"
)

func TestWriteBatchErrors(t *testing.T) {
	tests := []struct {
		code       int
		retryAfter string
		permanent  bool
		after      time.Duration
	}{
		{200, "", false, 0},
		{400, "", true, 0},
		{403, "", true, 0},
		{429, "2", false, 2 * time.Second},
		{429, "", false, 0},
		{500, "", false, 0},
		{503, "7", false, 7 * time.Second},
	}
	for _, tt := range tests {
		s := &sink{status: func(int) (int, string) { return tt.code, tt.retryAfter }}
		srv := httptest.NewServer(s)
		o, err := Type.New(engine.ConfigOf(map[string]any{"url": srv.URL}), connector.Env{Codec: "ndjson"})
		if err != nil {
			t.Fatal(err)
		}
		o.Connect(context.Background())
		err = o.(connector.BatchWriter).WriteBatch(context.Background(), recs(`{"a":1}`))
		var ra *connector.RetryAfterError
		gotAfter := time.Duration(0)
		if errors.As(err, &ra) {
			gotAfter = ra.After
		}
		switch {
		case tt.code == 200 && err != nil:
			t.Errorf("200: %v", err)
		case tt.code != 200 && err == nil:
			t.Errorf("%d: no error", tt.code)
		case connector.IsPermanent(err) != tt.permanent:
			t.Errorf("%d: permanent %v, want %v (%v)", tt.code, connector.IsPermanent(err), tt.permanent, err)
		case gotAfter != tt.after:
			t.Errorf("%d: retry after %s, want %s", tt.code, gotAfter, tt.after)
		}
		if h, ok := o.(connector.Health); !ok || (h.Healthy() == nil) != (tt.code == 200) {
			t.Errorf("%d: Healthy() = %v", tt.code, h.Healthy())
		}
		o.Close(context.Background())
		srv.Close()
	}
}

func TestOutputConfigErrors(t *testing.T) {
	tests := []struct {
		name   string
		fields map[string]any
		codec  string
		want   string
	}{
		{"no url", map[string]any{}, "lines", "url"},
		{"bad scheme", map[string]any{"url": "file:///x"}, "lines", "scheme"},
		{"unknown field", map[string]any{"url": "http://x", "retries": 3}, "lines", "retries"},
		{"bad size", map[string]any{"url": "http://x", "batch": map[string]any{"max_bytes": "big"}}, "lines", "big"},
		{"unset token variable", map[string]any{"url": "http://x", "bearer_token_env": "HTTP_OUT_TEST_UNSET"}, "lines", "HTTP_OUT_TEST_UNSET is not set"},
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

func TestEvents(t *testing.T) {
	s := &sink{status: func(n int) (int, string) {
		if n == 0 {
			return 503, ""
		}
		return 200, ""
	}}
	srv := httptest.NewServer(s)
	ev := &testkit.Events{}
	o, err := Type.New(engine.ConfigOf(map[string]any{"url": srv.URL}), connector.Env{Codec: "lines", Stats: ev})
	if err != nil {
		t.Fatal(err)
	}
	o.Connect(context.Background())
	w := o.(connector.BatchWriter)
	w.WriteBatch(context.Background(), recs("a"))
	w.WriteBatch(context.Background(), recs("a"))
	srv.Close()
	w.WriteBatch(context.Background(), recs("a"))
	o.Close(context.Background())
	want := map[string]int{"status_503": 1, "status_200": 1, "connection_errors": 1}
	for k, v := range want {
		if ev.Get(k) != v {
			t.Errorf("event %s counted %d times, want %d", k, ev.Get(k), v)
		}
	}
}

func TestCertificateErrorPermanent(t *testing.T) {
	srv := httptest.NewTLSServer(&sink{})
	defer srv.Close()
	o, err := Type.New(engine.ConfigOf(map[string]any{"url": srv.URL}), connector.Env{Codec: "lines"})
	if err != nil {
		t.Fatal(err)
	}
	o.Connect(context.Background())
	defer o.Close(context.Background())
	if err := o.(connector.BatchWriter).WriteBatch(context.Background(), recs("a")); !connector.IsPermanent(err) {
		t.Errorf("unknown certificate: %v, want a permanent error", err)
	}
}
