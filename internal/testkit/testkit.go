// Package testkit holds test helpers shared by pipe's packages: a
// connector.Stats that counts events, a free port, waiting until a
// pipeline run listens, a buffer safe for a writer and a reader, and the
// fenced blocks of a README.
package testkit

import (
	"bytes"
	"net"
	"os"
	"regexp"
	"sync"
	"testing"
	"time"
)

// Events is a connector.Stats that counts events. Its methods are safe for
// concurrent use.
type Events struct {
	mu sync.Mutex
	n  map[string]int
}

// Event counts name.
func (e *Events) Event(name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.n == nil {
		e.n = map[string]int{}
	}
	e.n[name]++
}

// Gauge ignores gauges.
func (e *Events) Gauge(string, float64) {}

// Get returns how many times name was counted.
func (e *Events) Get(name string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n[name]
}

// FreeAddr returns a 127.0.0.1 address nothing listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// WaitListening waits until addr accepts a connection. If done delivers
// first (the run ended), it puts the error back and fails t.
func WaitListening(t testing.TB, addr string, done chan error) {
	t.Helper()
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("pipeline ended before listening on %s: %v", addr, err)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Buffer is a bytes.Buffer safe for one goroutine writing (a pipeline's
// output, its log) while another reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// READMEBlocks returns the fenced blocks of the Markdown file path whose
// info strings are kinds ("yaml pipeline", "text input", ...), by kind;
// t fails unless each kind has exactly one block.
func READMEBlocks(t testing.TB, path string, kinds ...string) map[string]string {
	t.Helper()
	md, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	for _, kind := range kinds {
		re := regexp.MustCompile("(?s)```" + regexp.QuoteMeta(kind) + "\n(.*?)```")
		m := re.FindAllStringSubmatch(string(md), -1)
		if len(m) != 1 {
			t.Fatalf("%s: %d blocks ```%s, want 1", path, len(m), kind)
		}
		blocks[kind] = m[0][1]
	}
	return blocks
}
