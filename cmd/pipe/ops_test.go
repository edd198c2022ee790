package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// --log-format json writes one JSON object per line, and every line from
// a stage carries the stage's name and kind.
func TestJSONLogsCarryStage(t *testing.T) {
	cmd := exec.Command(pipeBin, "run", "--log-format", "json", "--log-level", "debug",
		"--lua", `print("from lua " .. rec) return rec`,
		"--js", `console.log("from js " + rec); return rec`)
	cmd.Stdin = strings.NewReader("a\nb\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if stdout.String() != "a\nb\n" {
		t.Errorf("stdout = %q", stdout.String())
	}
	want := map[string]string{"from lua a": "lua-1/lua", "from lua b": "lua-1/lua", "from js a": "js-2/js", "from js b": "js-2/js"}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		for _, k := range []string{"time", "level", "msg"} {
			if _, ok := rec[k]; !ok {
				t.Errorf("log line without %q: %s", k, line)
			}
		}
		if _, ok := rec["stage"]; ok {
			if _, ok := rec["kind"]; !ok {
				t.Errorf("a stage's log line without its kind: %s", line)
			}
		}
		msg, _ := rec["msg"].(string)
		if w, ok := want[msg]; ok {
			if got := rec["stage"].(string) + "/" + rec["kind"].(string); got != w {
				t.Errorf("%q logged as %s, want %s", msg, got, w)
			}
			delete(want, msg)
		}
	}
	if len(want) > 0 {
		t.Errorf("log lacks %v:\n%s", want, stderr.String())
	}

	for _, bad := range [][]string{{"--log-format", "yaml"}, {"--log-level", "loud"}} {
		out, err := exec.Command(pipeBin, append([]string{"run"}, bad...)...).CombinedOutput()
		if exitCode(err) != 2 || !strings.Contains(string(out), bad[0]) {
			t.Errorf("%v: %v %s, want exit 2 naming the flag", bad, err, out)
		}
	}
}

// pipe run --cpuprofile and --memprofile write profiles pprof reads.
func TestRunProfiles(t *testing.T) {
	dir := t.TempDir()
	cpu, mem := filepath.Join(dir, "cpu.prof"), filepath.Join(dir, "mem.prof")
	cmd := exec.Command(pipeBin, "run", "--native", "case", "--config", "to=upper", "--cpuprofile", cpu, "--memprofile", mem)
	cmd.Stdin = strings.NewReader(strings.Repeat("some text\n", 100000))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v\n%.300s", err, out)
	}
	for _, f := range []string{cpu, mem} {
		b, err := os.ReadFile(f)
		if err != nil || len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b { // pprof files are gzipped protobufs
			t.Errorf("%s: not a profile (%d bytes, %v)", f, len(b), err)
		}
	}
	out, err := exec.Command(pipeBin, "run", "--cpuprofile", filepath.Join(dir, "no", "such", "dir")).CombinedOutput()
	if exitCode(err) != 2 || !strings.Contains(string(out), "--cpuprofile") {
		t.Errorf("unwritable --cpuprofile: %v %s, want exit 2", err, out)
	}
}

// pipe schema prints a JSON Schema (draft 2020-12) of the pipeline file.
func TestSchemaCommand(t *testing.T) {
	out, err := exec.Command(pipeBin, "schema").Output()
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Schema     string                     `json:"$schema"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(out, &s); err != nil {
		t.Fatalf("not JSON: %v\n%.300s", err, out)
	}
	if s.Schema != "https://json-schema.org/draft/2020-12/schema" {
		t.Errorf("$schema = %q", s.Schema)
	}
	for _, k := range []string{"input", "output", "stages", "defaults", "plugins", "tests"} {
		if _, ok := s.Properties[k]; !ok {
			t.Errorf("schema has no property %q", k)
		}
	}
}
