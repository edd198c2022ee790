package httpout

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/pipe-dev/pipe/stage"
)

func recs(data ...string) []*stage.Record {
	out := make([]*stage.Record, len(data))
	for i, d := range data {
		out[i] = stage.NewRecord([]byte(d))
	}
	return out
}

// sink records every request it gets.
type sink struct {
	mu     sync.Mutex
	bodies []string
	hdrs   []http.Header
	status func(n int) (int, string) // the answer to the n-th request (0-based)
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		body = zr
	}
	b, _ := io.ReadAll(body)
	s.mu.Lock()
	n := len(s.bodies)
	s.bodies = append(s.bodies, string(b))
	s.hdrs = append(s.hdrs, r.Header.Clone())
	s.mu.Unlock()
	code, retryAfter := 200, ""
	if s.status != nil {
		code, retryAfter = s.status(n)
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	w.WriteHeader(code)
	io.WriteString(w, "answer body")
}

func open(t *testing.T, cfg Config, codec string) *Client {
	t.Helper()
	c, err := New(cfg, codec)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func TestBatchesAndHeaders(t *testing.T) {
	t.Setenv("HTTP_OUT_TEST_TOKEN", "tok")
	tests := []struct {
		name   string
		cfg    Config
		codec  string
		in     []string
		bodies []string
		ctype  string
	}{
		{name: "ndjson one request", codec: "ndjson", in: []string{`{"a":1}`, `{"b":2}`},
			bodies: []string{"{\"a\":1}\n{\"b\":2}\n"}, ctype: "application/x-ndjson"},
		{name: "split by records", codec: "lines", cfg: Config{Batch: BatchConfig{MaxRecords: 2}}, in: []string{"a", "b", "c", "d", "e"},
			bodies: []string{"a\nb\n", "c\nd\n", "e\n"}, ctype: "text/plain; charset=utf-8"},
		{name: "split by bytes", codec: "lines", cfg: Config{Batch: BatchConfig{MaxBytes: 6}}, in: []string{"aa", "bb", "cc", "toolongrecord", "d"},
			bodies: []string{"aa\nbb\n", "cc\n", "toolongrecord\n", "d\n"}},
		{name: "raw: a request per record", codec: "raw", in: []string{"x", "y"}, bodies: []string{"x", "y"}, ctype: "application/octet-stream"},
		{name: "gzip", codec: "ndjson", cfg: Config{Compression: "gzip"}, in: []string{`1`, `2`}, bodies: []string{"1\n2\n"}},
		{name: "content type header wins", codec: "ndjson", cfg: Config{Headers: map[string]string{"Content-Type": "application/json", "X-Source": "pipe"}},
			in: []string{`1`}, bodies: []string{"1\n"}, ctype: "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &sink{}
			srv := httptest.NewServer(s)
			defer srv.Close()
			cfg := tt.cfg
			cfg.URL = srv.URL + "/in"
			cfg.TokenEnv = "HTTP_OUT_TEST_TOKEN"
			c := open(t, cfg, tt.codec)
			if err := c.Write(context.Background(), recs(tt.in...)); err != nil {
				t.Fatal(err)
			}
			if strings.Join(s.bodies, "|") != strings.Join(tt.bodies, "|") {
				t.Fatalf("bodies %q, want %q", s.bodies, tt.bodies)
			}
			for _, h := range s.hdrs {
				if h.Get("Authorization") != "Bearer tok" {
					t.Errorf("Authorization %q", h.Get("Authorization"))
				}
				if tt.ctype != "" && h.Get("Content-Type") != tt.ctype {
					t.Errorf("Content-Type %q, want %q", h.Get("Content-Type"), tt.ctype)
				}
				if (cfg.Compression == "gzip") != (h.Get("Content-Encoding") == "gzip") {
					t.Errorf("Content-Encoding %q with compression %q", h.Get("Content-Encoding"), cfg.Compression)
				}
				if v, ok := cfg.Headers["X-Source"]; ok && h.Get("X-Source") != v {
					t.Errorf("X-Source %q, want %q", h.Get("X-Source"), v)
				}
			}
			if c.Healthy() != nil {
				t.Errorf("Healthy after success: %v", c.Healthy())
			}
		})
	}
}

func TestStatusErrors(t *testing.T) {
	tests := []struct {
		code       int
		retryAfter string
		transient  bool
		after      time.Duration
	}{
		{400, "", false, 0},
		{401, "", false, 0},
		{404, "", false, 0},
		{413, "", false, 0},
		{408, "", true, 0},
		{429, "3", true, 3 * time.Second},
		{429, "", true, 0},
		{500, "", true, 0},
		{502, "", true, 0},
		{503, "1", true, time.Second},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.code), func(t *testing.T) {
			s := &sink{status: func(int) (int, string) { return tt.code, tt.retryAfter }}
			srv := httptest.NewServer(s)
			defer srv.Close()
			c := open(t, Config{URL: srv.URL}, "lines")
			err := c.Write(context.Background(), recs("a", "b"))
			var se *StatusError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *StatusError", err)
			}
			if se.Code != tt.code || se.Transient() != tt.transient || se.RetryAfter != tt.after {
				t.Errorf("got code %d transient %v after %s, want %d %v %s", se.Code, se.Transient(), se.RetryAfter, tt.code, tt.transient, tt.after)
			}
			if !strings.Contains(err.Error(), "answer body") {
				t.Errorf("error %q does not quote the answer", err)
			}
			if c.Healthy() == nil {
				t.Error("Healthy is nil after a failed request")
			}
		})
	}
}

func TestStopsAtFirstFailedRequest(t *testing.T) {
	s := &sink{status: func(n int) (int, string) {
		if n == 1 {
			return 500, ""
		}
		return 200, ""
	}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c := open(t, Config{URL: srv.URL, Batch: BatchConfig{MaxRecords: 1}}, "lines")
	if err := c.Write(context.Background(), recs("a", "b", "c")); err == nil {
		t.Fatal("no error")
	}
	if len(s.bodies) != 2 {
		t.Errorf("sent %d requests, want 2 (none after the failed one)", len(s.bodies))
	}
}

func TestConnectionRefused(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c := open(t, Config{URL: url}, "lines")
	err := c.Write(context.Background(), recs("a"))
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("error %v, want connection refused", err)
	}
	var se *StatusError
	if errors.As(err, &se) {
		t.Error("a refused connection is not a status")
	}
}

func TestCancelled(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(block)
	c := open(t, Config{URL: srv.URL}, "lines")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(10 * time.Millisecond); cancel() }()
	if err := c.Write(ctx, recs("a")); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"2", 2 * time.Second}, {"-1", 0}, {"soon", 0},
		{"99999", maxRetryAfter},
		{now.Add(30 * time.Second).Format(http.TimeFormat), 30 * time.Second},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		codec string
		field string
	}{
		{"no url", Config{}, "lines", "url"},
		{"ftp url", Config{URL: "ftp://x/y"}, "lines", "url"},
		{"no host", Config{URL: "http:///path"}, "lines", "url"},
		{"method", Config{URL: "http://x", Method: "GET"}, "lines", "method"},
		{"compression", Config{URL: "http://x", Compression: "br"}, "lines", "compression"},
		{"two tokens", Config{URL: "http://x", TokenEnv: "A", TokenFile: "f"}, "lines", "bearer_token_file"},
		{"content-encoding header", Config{URL: "http://x", Headers: map[string]string{"content-encoding": "br"}}, "lines", "headers"},
		{"codec", Config{URL: "http://x"}, "csv", "codec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, tt.codec)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("error %v, want one about %s", err, tt.field)
			}
		})
	}
	tok := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tok, []byte("\n"), 0o600)
	c, _ := New(Config{URL: "http://127.0.0.1:1", TokenFile: tok}, "lines")
	var fe *FieldError
	if err := c.Connect(context.Background()); !errors.As(err, &fe) || fe.Field != "bearer_token_file" {
		t.Errorf("empty token file: %v", err)
	}
}

func TestGzipBody(t *testing.T) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	c := open(t, Config{URL: srv.URL, Compression: "gzip"}, "lines")
	if err := c.Write(context.Background(), recs(strings.Repeat("same line", 100))); err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(got))
	if err != nil {
		t.Fatalf("body is not gzip: %v", err)
	}
	plain, _ := io.ReadAll(zr)
	if string(plain) != strings.Repeat("same line", 100)+"\n" || len(got) >= len(plain) {
		t.Errorf("gzip body of %d bytes decompresses to %d bytes %q...", len(got), len(plain), plain[:min(20, len(plain))])
	}
}

func TestRedirects(t *testing.T) {
	s := &sink{}
	final := httptest.NewServer(s)
	defer final.Close()
	for _, tt := range []struct {
		code      int
		delivered bool
	}{{307, true}, {308, true}, {301, false}, {302, false}, {303, false}} {
		s.bodies = nil
		redir := httptest.NewServer(http.RedirectHandler(final.URL+"/moved", tt.code))
		c := open(t, Config{URL: redir.URL}, "lines")
		err := c.Write(context.Background(), recs("a"))
		redir.Close()
		if tt.delivered {
			if err != nil || len(s.bodies) != 1 || s.bodies[0] != "a\n" {
				t.Errorf("%d: err %v, bodies %q; want the body at the new place", tt.code, err, s.bodies)
			}
			continue
		}
		var se *StatusError
		if !errors.As(err, &se) || se.Code != tt.code || se.Transient() {
			t.Errorf("%d: err %v, want a permanent status error", tt.code, err)
		}
		if len(s.bodies) != 0 {
			t.Errorf("%d: followed to %q", tt.code, s.bodies)
		}
	}
}

func TestTLSCA(t *testing.T) {
	s := &sink{}
	srv := httptest.NewTLSServer(s)
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	c := open(t, Config{URL: srv.URL, TLSCA: ca}, "lines")
	if err := c.Write(context.Background(), recs("over tls")); err != nil {
		t.Fatalf("with the CA file: %v", err)
	}
	if len(s.bodies) != 1 || s.bodies[0] != "over tls\n" {
		t.Errorf("bodies %q", s.bodies)
	}
	// Without it, the server's certificate is unknown: not delivered.
	c = open(t, Config{URL: srv.URL}, "lines")
	if err := c.Write(context.Background(), recs("x")); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("without the CA file: %v, want a certificate error", err)
	}
	// A file without certificates is a configuration error.
	bad := filepath.Join(dir, "bad.pem")
	os.WriteFile(bad, []byte("nothing"), 0o600)
	c, _ = New(Config{URL: srv.URL, TLSCA: bad}, "lines")
	var fe *FieldError
	if err := c.Connect(context.Background()); !errors.As(err, &fe) || fe.Field != "tls_ca_file" {
		t.Errorf("bad CA file: %v", err)
	}
}
