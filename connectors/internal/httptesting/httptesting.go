// Package httptesting holds test helpers of the HTTP input and output: a
// connector.Stats that counts events, a free port, and waiting until a
// pipeline run listens.
package httptesting

import (
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
