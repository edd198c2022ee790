package pipelines

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/gzip"
	_ "github.com/pipe-dev/pipe/connectors/all"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/testkit"
)

// TestHTTPRelay runs http/error-relay.yaml between a client and a local
// collector: the client's POST is answered 200 once the collector has the
// errors, and the collector got only the errors, gzipped, with the header.
func TestHTTPRelay(t *testing.T) {
	var mu sync.Mutex
	var got bytes.Buffer
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		zr, err := gzip.NewReader(r.Body)
		if err != nil || r.Header.Get("X-Pipeline") != "error-relay" {
			w.WriteHeader(400)
			return
		}
		b, _ := io.ReadAll(zr)
		mu.Lock()
		got.Write(b)
		mu.Unlock()
	}))
	defer collector.Close()
	addr := testkit.FreeAddr(t)
	t.Setenv("HTTP_ADDR", addr)
	t.Setenv("INGEST_TOKEN", "t0ken")
	t.Setenv("COLLECTOR_URL", collector.URL)
	t.Setenv("DEAD_LETTER", filepath.Join(t.TempDir(), "rejects.ndjson"))
	p, err := engine.Load(filepath.Join("http", "error-relay.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, strings.NewReader(""), io.Discard) }()
	defer func() { cancel(); <-done }()
	testkit.WaitListening(t, addr, done)
	body := `{"level":"info","msg":"started"}` + "\n" + `{"level":"error","msg":"disk full"}` + "\n"
	req, _ := http.NewRequest("POST", "http://"+addr+"/ingest", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer t0ken")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	mu.Lock()
	defer mu.Unlock()
	if got.String() != `{"level":"error","msg":"disk full"}`+"\n" {
		t.Errorf("collector got %q", got.String())
	}
}
