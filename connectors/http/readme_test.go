package httpout_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/testkit"
)

// TestREADMEExample runs the README's example as written against a local
// receiver and compares what it received (the request line, the headers
// the README lists, the decompressed body) with the README.
func TestREADMEExample(t *testing.T) {
	blocks := testkit.READMEBlocks(t, "README.md", "yaml pipeline", "text input", "text received")
	wantHead, _, _ := strings.Cut(blocks["text received"], "\n\n")
	var listed []string
	for _, l := range strings.Split(wantHead, "\n")[1:] {
		k, _, _ := strings.Cut(l, ":")
		listed = append(listed, k)
	}
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
		var sb strings.Builder
		fmt.Fprintf(&sb, "%s %s\n", r.Method, r.URL.Path)
		for _, k := range listed {
			fmt.Fprintf(&sb, "%s: %s\n", k, r.Header.Get(k))
		}
		sb.WriteString("\n")
		sb.Write(b)
		mu.Lock()
		got = append(got, sb.String())
		mu.Unlock()
	}))
	defer srv.Close()
	t.Setenv("SINK_URL", srv.URL+"/ingest")
	t.Setenv("SINK_TOKEN", "s3cret")
	t.Setenv("DEAD_LETTER", filepath.Join(t.TempDir(), "rejects.ndjson"))
	spec, err := engine.Parse([]byte(blocks["yaml pipeline"]), "README.md")
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.Run(context.Background(), strings.NewReader(blocks["text input"]), io.Discard); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, "") != blocks["text received"] {
		t.Errorf("received:\n%s\nREADME says:\n%s", strings.Join(got, "----\n"), blocks["text received"])
	}
}
