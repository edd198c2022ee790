package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// A scrape of /metrics during a run sees the records that went through,
// and the counts match what --stats prints at the end.
func TestMetricsDuringRun(t *testing.T) {
	cmd := exec.Command(pipeBin, "run", "--codec", "ndjson", "--native", "select", "--config", "field=keep", "--config", "equals=true",
		"--metrics-addr", "127.0.0.1:0", "--stats")
	in, _ := cmd.StdinPipe()
	outPipe, _ := cmd.StdoutPipe()
	errPipe, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	stderr := bufio.NewReader(errPipe)
	line, err := stderr.ReadString('\n')
	m := regexp.MustCompile(`url=(http://\S+)/metrics`).FindStringSubmatch(line)
	if err != nil || m == nil {
		t.Fatalf("no metrics url in the log: %q %v", line, err)
	}
	base := m[1]
	if body := get(t, base+"/healthz"); body != "ok\n" {
		t.Errorf("/healthz = %q", body)
	}
	out := bufio.NewReader(outPipe)
	written := 0 // bytes of the kept records, newlines included
	for i := range 300 {
		n, _ := fmt.Fprintf(in, "{\"n\":%d,\"keep\":%v}\n", i, i%3 == 0)
		if i%3 == 0 {
			written += n
		}
	}
	for range 100 { // wait until the kept records came out
		if _, err := out.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	if body := get(t, base+"/readyz"); body != "ready\n" {
		t.Errorf("/readyz during the run = %q", body)
	}
	// The counters are updated around the writes: scrape until they
	// account for every record (an event), not after some delay.
	wants := []string{
		`pipe_stage_records_in_total{kind="input",pipeline="filter",stage="input"} 300`,
		`pipe_stage_records_in_total{kind="native",pipeline="filter",stage="native-1"} 300`,
		`pipe_stage_records_out_total{kind="native",pipeline="filter",stage="native-1"} 100`,
		`pipe_stage_records_dropped_total{kind="native",pipeline="filter",stage="native-1"} 200`,
		`pipe_stage_records_out_total{kind="output",pipeline="filter",stage="output"} 100`,
		`pipe_stage_batch_duration_seconds_bucket{kind="native",pipeline="filter",stage="native-1",le="+Inf"}`,
		fmt.Sprintf(`pipe_output_bytes_written_total{pipeline="filter"} %d`, written),
	}
	var metrics string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		metrics = get(t, base+"/metrics")
		missing := 0
		for _, want := range wants {
			if !strings.Contains(metrics, want) {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			for _, want := range wants {
				if !strings.Contains(metrics, want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
			break
		}
	}
	if !regexp.MustCompile(`pipe_stage_bytes_in_total\{kind="native",pipeline="filter",stage="native-1"\} [1-9]`).MatchString(metrics) {
		t.Error("/metrics has no byte counter of the stage")
	}
	if !regexp.MustCompile(`(?m)^pipe_build_info\{.*commit="[^"]+".*version="[^"]+"\} 1$`).MatchString(metrics) {
		t.Errorf("/metrics has no pipe_build_info:\n%s", metrics)
	}
	in.Close()
	rest, _ := io.ReadAll(stderr)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("run: %v\n%s", err, rest)
	}
	stats := string(rest)
	if !regexp.MustCompile(`(?m)^\s*native-1\s+native\s+300\s+100\s+200\s+0\s`).MatchString(stats) {
		t.Errorf("--stats does not match the scrape:\n%s", stats)
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	c := &http.Client{Timeout: time.Minute, Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return b.String()
}
