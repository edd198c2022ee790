package cli

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
)

// The metrics server closes idle keep-alive connections and refuses
// connections beyond its limit, instead of holding them for ever.
func TestMetricsServerBounds(t *testing.T) {
	saved := metricsLimits
	defer func() { metricsLimits = saved }()
	spec, err := engine.Parse([]byte("stages:\n  - {name: t, type: native, use: trim}\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := func() string {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		addr := ln.Addr().String()
		ln.Close()
		stop, err := serveMetrics(addr, p, "t", slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		return addr
	}
	metricsLimits.idle, metricsLimits.readHeader = 200*time.Millisecond, 200*time.Millisecond
	addr := start()

	// closed waits (up to a generous bound, far beyond the timeouts) for
	// the server to close c.
	closed := func(c net.Conn) bool {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, err := io.Copy(io.Discard, c)
		return err == nil // EOF: the server closed it; a timeout is an error
	}

	// An idle keep-alive connection after a request.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	if !closed(c) {
		t.Error("an idle keep-alive connection was not closed")
	}

	// A connection that never sends its request.
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	if !closed(silent) {
		t.Error("a connection that sends nothing was not closed")
	}

	// Beyond the limit: the extra connection is closed at once, while the
	// ones holding the slots are still open.
	metricsLimits.idle, metricsLimits.readHeader, metricsLimits.maxConns = time.Hour, time.Hour, 4
	addr = start()
	var held []net.Conn
	for range 4 {
		h, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		held = append(held, h)
	}
	extra, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	if !closed(extra) {
		t.Error("a connection beyond the limit was not refused")
	}
	// A slot given back serves again.
	held[0].Close()
	for range 100 { // the server sees the close asynchronously
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err == nil && resp.StatusCode == 200 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Error("no connection was served after one of the limit's was closed")
}
