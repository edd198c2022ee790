package native_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
)

// TestAggregateLiveStream feeds records slowly through a pipe that stays
// open (as tail -f does) and waits, for each record, for its window to be
// emitted with no further input: the stage's clock closes it. The bound
// checked is one window plus one tick, with a generous allowance for a
// loaded machine; the event that matters is that the window comes at all
// while the input is silent.
func TestAggregateLiveStream(t *testing.T) {
	const window, tick = 300 * time.Millisecond, 20 * time.Millisecond
	const slack = 5 * time.Second // scheduling on a loaded machine
	for _, tt := range []struct {
		name   string
		config string
		record func() string
	}{
		{"processing time", fmt.Sprintf("{window: %v, tick: %v, group_by: [svc]}", window, tick),
			func() string { return `{"svc":"api"}` }},
		{"event time, idle advance", fmt.Sprintf("{window: %v, tick: %v, time_field: ts, group_by: [svc]}", window, tick),
			func() string { return fmt.Sprintf(`{"svc":"api","ts":%q}`, time.Now().UTC().Format(time.RFC3339Nano)) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			yaml := "input: {codec: ndjson}\nstages: [{name: agg, type: native, use: aggregate, config: " + tt.config + "}]\n"
			spec, err := engine.Parse([]byte(yaml), "agg.yaml")
			if err != nil {
				t.Fatal(err)
			}
			p, err := engine.Build(spec)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			outR, outW := io.Pipe()
			done := make(chan error, 1)
			go func() {
				done <- p.RunReader(context.Background(), pr, outW)
				outW.Close()
			}()
			lines := make(chan string)
			go func() {
				defer close(lines)
				sc := bufio.NewScanner(outR)
				for sc.Scan() {
					lines <- sc.Text()
				}
			}()
			for i := range 3 {
				sent := time.Now()
				if _, err := fmt.Fprintln(pw, tt.record()); err != nil {
					t.Fatal(err)
				}
				var line string
				select {
				case line = <-lines:
				case <-time.After(window + tick + slack):
					t.Fatalf("round %d: no window emitted within %v while the input stayed open", i, window+tick+slack)
				}
				took := time.Since(sent)
				var got struct {
					Start time.Time `json:"window_start"`
					End   time.Time `json:"window_end"`
					Svc   string    `json:"svc"`
					Count int       `json:"count"`
				}
				if err := json.Unmarshal([]byte(line), &got); err != nil {
					t.Fatalf("round %d: %q: %v", i, line, err)
				}
				if got.Count != 1 || got.Svc != "api" || got.End.Sub(got.Start) != window {
					t.Fatalf("round %d: got %s, want one record of api in a window of %v", i, line, window)
				}
				t.Logf("round %d: window emitted %v after its record (bound %v)", i, took.Round(time.Millisecond), window+tick)
			}
			pw.Close()
			if line, ok := <-lines; ok {
				t.Errorf("output after the input ended: %q (every window was emitted already)", line)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}
