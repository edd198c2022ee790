package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/internal/gendata"
)

func TestBenchGenerate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte("input: {codec: ndjson}\noutput: {type: file, path: /nonexistent/never-written}\nstages:\n"+
		"  - {name: errors, type: native, use: select, config: {field: level, equals: error}}\n"+
		"  - {name: shout, type: native, use: case, config: {field: msg, to: upper}}\n"), 0o644)
	cpu := filepath.Join(dir, "cpu.prof")
	var out, errb bytes.Buffer
	code := Main([]string{"bench", file, "--generate", "20000", "--cpuprofile", cpu, "--memprofile", filepath.Join(dir, "mem.prof")}, nil, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	s := out.String()
	var data bytes.Buffer
	gendata.Write(&data, 20000, 42)
	n := strconv.Itoa(bytes.Count(data.Bytes(), []byte(`"level":"error"`)))
	for _, re := range []string{
		`(?m)^\s*errors\s+native\s+20000\s+` + n + `\s+\d+\s+[\d.]+\s+\S+\s+\S+\s+\S+\s+\d+%`,
		`(?m)^\s*shout\s+native\s+` + n + `\s+` + n + `\s`,
		`end to end: 20000 records, [\d.]+ MB in \S+: \d+ records/s, [\d.]+ MB/s; ` + n + ` records out`,
	} {
		if !regexp.MustCompile(re).MatchString(s) {
			t.Errorf("bench output does not match %s:\n%s", re, s)
		}
	}
	for _, f := range []string{"cpu.prof", "mem.prof"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", f, err)
		}
	}
	if strings.Contains(errb.String(), "error") {
		t.Errorf("stderr: %s", errb.String())
	}
}
