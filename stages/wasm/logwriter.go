package wasm

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
)

// lineWriter sends what a guest writes on stdout or stderr to the stage's
// log, one entry per line (lines longer than maxLogLine are cut). It keeps
// the lines written since mark for error messages (a Go guest's panic).
type lineWriter struct {
	log    *slog.Logger
	stream string
	level  slog.Level

	mu     sync.Mutex
	buf    []byte
	marked []string
}

// maxMarked is how many lines since mark an error message quotes.
const maxMarked = 2

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := maxLogLine - len(w.buf)
			if len(p) > room {
				w.buf = append(w.buf, p[:room]...)
				w.emit()
				p = p[room:]
				continue
			}
			w.buf = append(w.buf, p...)
			break
		}
		w.buf = append(w.buf, p[:min(i, max(0, maxLogLine-len(w.buf)))]...)
		w.emit()
		p = p[i+1:]
	}
	return n, nil
}

func (w *lineWriter) emit() {
	line := string(w.buf)
	w.buf = w.buf[:0]
	w.log.Log(context.Background(), w.level, line, "source", "guest", "stream", w.stream)
	if len(w.marked) < maxMarked && strings.TrimSpace(line) != "" {
		w.marked = append(w.marked, line)
	}
}

// flush logs a last line without its newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit()
	}
}

// mark starts collecting lines for sinceMark.
func (w *lineWriter) mark() {
	w.mu.Lock()
	w.marked = w.marked[:0]
	w.mu.Unlock()
}

// sinceMark returns the lines written since mark, for an error message
// ("" if none).
func (w *lineWriter) sinceMark() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit()
	}
	if len(w.marked) == 0 {
		return ""
	}
	return " (stderr: " + strings.Join(w.marked, " | ") + ")"
}

// recent is sinceMark for errors of instantiation.
func (w *lineWriter) recent() string { return w.sinceMark() }
