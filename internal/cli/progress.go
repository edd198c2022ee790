package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"golang.org/x/term"
)

// isRegularFile tells whether r is a regular file (stdin redirected from
// one), whose size makes a progress line meaningful.
func isRegularFile(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode().IsRegular()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// showProgress draws a progress line on w every interval until stop is
// called; stop draws the final state and ends the line.
func showProgress(w io.Writer, p *engine.Pipeline, interval time.Duration) (stop func()) {
	start := time.Now()
	draw := func(final bool) {
		read, total := p.Progress()
		stats := p.Stats()
		recs := stats[0].In
		el := time.Since(start).Seconds()
		line := humanBytes(read)
		if total > 0 {
			pct := float64(read) / float64(total) * 100
			line += fmt.Sprintf(" / %s (%.1f%%)", humanBytes(total), pct)
		}
		line += fmt.Sprintf("  %d records  %.0f records/s", recs, float64(recs)/max(el, 1e-9))
		if total > 0 && read > 0 && read < total {
			eta := time.Duration(el * float64(total-read) / float64(read) * float64(time.Second))
			line += "  ETA " + eta.Round(time.Second).String()
		}
		fmt.Fprintf(w, "\r\033[K%s", line)
		if final {
			fmt.Fprintln(w)
		}
	}
	draw(false)
	return every(interval, draw)
}

// every calls draw(false) every interval until stop is called; stop calls
// draw(true) and returns once it returned.
func every(interval time.Duration, draw func(final bool)) (stop func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				draw(false)
			case <-done:
				draw(true)
				return
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}

// showProgressJSON is showProgress under --log-format json: every interval
// (and once at the end) one JSON line {"msg":"progress","bytes_read":N,
// "bytes_total":N,"records":N,"records_per_second":R[,"percent":P,
// "eta_seconds":S]}; bytes_total is 0 when the input is not files.
func showProgressJSON(log *slog.Logger, p *engine.Pipeline, interval time.Duration) (stop func()) {
	start := time.Now()
	draw := func(final bool) {
		read, total := p.Progress()
		recs := p.Stats()[0].In
		el := time.Since(start).Seconds()
		attrs := []any{"bytes_read", read, "bytes_total", total, "records", recs,
			"records_per_second", float64(recs) / max(el, 1e-9), "elapsed_seconds", el, "final", final}
		if total > 0 {
			attrs = append(attrs, "percent", float64(read)/float64(total)*100)
			if read > 0 && read < total {
				attrs = append(attrs, "eta_seconds", el*float64(total-read)/float64(read))
			}
		}
		log.Info("progress", attrs...)
	}
	return every(interval, draw)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
