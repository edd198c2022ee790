package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// jsonLines parses every line of stderr as one JSON object.
func jsonLines(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("stderr line is not JSON: %q (%v)\nstderr:\n%s", l, err, stderr)
		}
		out = append(out, m)
	}
	return out
}

// Under --log-format json every line on stderr is one JSON object: the
// final error of a failing run, of a config error and of a usage error
// included, with its exit code and the error's parts.
func TestJSONLogsEveryLine(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("stages:\n  - {name: a, type: native, use: grep, config: {patern: x}}\n"), 0o644)
	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
		want  map[string]any // in the last line
	}{
		{"runtime failure", []string{"run", "--log-format", "json", "--codec", "ndjson", "--stats"}, "{\"a\":1}\nnot json\n", ExitFailure,
			map[string]any{"level": "ERROR", "error_kind": "runtime", "stage": "input", "record": 2.0, "exit_code": 1.0}},
		{"config error", []string{"--log-format=json", "run", bad}, "", ExitUsage,
			map[string]any{"level": "ERROR", "error_kind": "config", "file": bad, "line": 2.0, "exit_code": 2.0}},
		{"usage error", []string{"--log-format", "json", "run", "--bogus"}, "", ExitUsage,
			map[string]any{"level": "ERROR", "error_kind": "usage", "exit_code": 2.0}},
		{"usage error before --log-format", []string{"run", "--bogus", "--log-format=json"}, "", ExitUsage,
			map[string]any{"level": "ERROR", "error_kind": "usage", "exit_code": 2.0}},
		{"lint of two files", []string{"lint", "--log-format", "json", bad, bad}, "", ExitUsage,
			map[string]any{"level": "ERROR", "error_kind": "config", "msg": "2 of 2 pipeline files have errors"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Main(tc.args, strings.NewReader(tc.stdin), &stdout, &stderr)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\n%s", code, tc.code, stderr.String())
			}
			lines := jsonLines(t, stderr.String())
			last := lines[len(lines)-1]
			for k, v := range tc.want {
				if last[k] != v {
					t.Errorf("last line %v: %s = %v, want %v", last, k, last[k], v)
				}
			}
			if msg, _ := last["msg"].(string); msg == "" || strings.HasPrefix(msg, "pipe:") {
				t.Errorf("error line msg = %q, want the error text", msg)
			}
		})
	}
}

// --stats=json prints the stats table as one JSON line; under
// --log-format json plain --stats does too; plain --stats stays a table.
func TestStatsJSON(t *testing.T) {
	in := "{\"keep\":true}\n{\"keep\":false}\n{\"keep\":true}\n"
	filter := []string{"--codec", "ndjson", "--native", "select", "--config", "field=keep", "--config", "equals=true"}
	for _, args := range [][]string{{"--stats=json"}, {"--stats", "--log-format", "json"}} {
		var stdout, stderr bytes.Buffer
		if code := Main(append(append([]string{"run"}, filter...), args...), strings.NewReader(in), &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr.String())
		}
		var stats map[string]any
		for _, l := range jsonLines(t, stderr.String()) {
			if l["msg"] == "stats" {
				stats = l
			}
		}
		if stats == nil || stats["records"] != 3.0 || stats["pipeline"] != "filter" {
			t.Fatalf("%v: no stats line with 3 records:\n%s", args, stderr.String())
		}
		rows, _ := stats["stages"].([]any)
		if len(rows) != 3 {
			t.Fatalf("%v: %d rows, want input, the stage, output", args, len(rows))
		}
		st, _ := rows[1].(map[string]any)
		if st["stage"] != "native-1" || st["kind"] != "native" || st["in"] != 3.0 || st["out"] != 2.0 || st["dropped"] != 1.0 ||
			st["in_bytes"] != float64(len(in)-3) {
			t.Errorf("%v: stage row %v", args, st)
		}
	}
	var stdout, stderr bytes.Buffer
	Main(append(append([]string{"run"}, filter...), "--stats"), strings.NewReader(in), &stdout, &stderr)
	if !strings.Contains(stderr.String(), "stage") || strings.HasPrefix(stderr.String(), "{") {
		t.Errorf("plain --stats is no longer a table:\n%s", stderr.String())
	}
	Main([]string{"run", "--stats=yaml"}, strings.NewReader(""), &stdout, &stderr)
	if !strings.Contains(stderr.String(), "--stats=yaml: want --stats or --stats=json") {
		t.Errorf("--stats=yaml accepted:\n%s", stderr.String())
	}
}

// --progress under --log-format json writes progress as JSON lines, the
// last one final.
func TestProgressJSON(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "in.txt")
	os.WriteFile(data, []byte(strings.Repeat("a line\n", 1000)), 0o644)
	var stdout, stderr bytes.Buffer
	if code := Main([]string{"run", "--log-format", "json", "--progress", "--input", data}, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	var last map[string]any
	for _, l := range jsonLines(t, stderr.String()) {
		if l["msg"] == "progress" {
			last = l
		}
	}
	if last == nil || last["final"] != true || last["records"] != 1000.0 || last["bytes_read"] != 7000.0 ||
		last["bytes_total"] != 7000.0 || last["percent"] != 100.0 {
		t.Errorf("final progress line %v\n%s", last, stderr.String())
	}
}
