package httpserver_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
	"github.com/pipe-dev/pipe/internal/testkit"
)

// TestREADMEExample runs the README's example as written: the pipeline,
// the request sent to it, the answer and the pipeline's output.
func TestREADMEExample(t *testing.T) {
	blocks := testkit.READMEBlocks(t, "README.md", "yaml pipeline", "text request", "text answer", "text output")
	addr := testkit.FreeAddr(t)
	t.Setenv("HTTP_ADDR", addr)
	t.Setenv("INGEST_TOKEN", "s3cret")
	spec, err := engine.Parse([]byte(blocks["yaml pipeline"]), "README.md")
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out enginetest.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, strings.NewReader(""), &out) }()
	defer func() { cancel(); <-done }()
	testkit.WaitListening(t, addr, done)

	// The request block: METHOD PATH, headers, a blank line, the body.
	head, body, _ := strings.Cut(blocks["text request"], "\n\n")
	lines := strings.Split(head, "\n")
	method, path, _ := strings.Cut(lines[0], " ")
	payload := []byte(body)
	hdr := http.Header{}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ": ")
		hdr.Set(k, v)
	}
	if hdr.Get("Content-Encoding") == "gzip" {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(payload)
		zw.Close()
		payload = z.Bytes()
	}
	req, _ := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(payload))
	req.Header = hdr
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	got := resp.Status[:3] + " " + strings.TrimSpace(string(answer))
	if want := strings.TrimSpace(blocks["text answer"]); got != want {
		t.Errorf("answer %q, README says %q", got, want)
	}
	cancel()
	if err := <-done; err != nil && err != context.Canceled {
		t.Fatalf("run: %v", err)
	}
	done <- nil
	if out.String() != blocks["text output"] {
		t.Errorf("output:\n%s\nREADME says:\n%s", out.String(), blocks["text output"])
	}
}
