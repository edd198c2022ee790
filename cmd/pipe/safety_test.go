package main

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"
)

// `pipe ... >&-`: the Go runtime puts /dev/null where stdout was, so the
// records would vanish behind exit 0; pipe refuses to run instead. A
// redirect to /dev/null, or an output file, is fine.
func TestClosedStdoutFromTheStartFails(t *testing.T) {
	if runtime.GOOS != "linux" && runtime.GOOS != "darwin" {
		t.Skip("detected on linux and darwin only")
	}
	for _, c := range []struct {
		redirect string
		code     int
		stderr   string
	}{
		{">&-", 2, "standard output is closed"},
		{"> /dev/null", 0, ""},
		{"--output " + t.TempDir() + "/out >&-", 0, ""},
	} {
		cmd := exec.Command("sh", "-c", `printf 'a\nb\n' | "$0" run --native case --config to=upper `+c.redirect, pipeBin)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		err := cmd.Run()
		if code := exitCode(err); code != c.code || !strings.Contains(stderr.String(), c.stderr) {
			t.Errorf("%s: exit %d, stderr %q; want exit %d and %q", c.redirect, code, stderr.String(), c.code, c.stderr)
		}
	}
}

// A run stopped by a failing record accounts for every record it read, in
// the text and the JSON stats: in = passed + dropped + errors + not
// processed, for every row (issue 17 item 9).
func TestStatsAccountForAFailedRun(t *testing.T) {
	var in strings.Builder
	for i := range 20000 {
		fmt.Fprintln(&in, i)
	}
	cmd := exec.Command(pipeBin, "run", "--lua", `if rec == "2500" then error("bad") end return rec`, "--native", "case", "--config", "to=upper", "--stats=json")
	cmd.Stdin = strings.NewReader(in.String())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if exitCode(err) != 1 || strings.Count(string(out), "\n") != 2500 {
		t.Fatalf("exit %d, %d lines; want exit 1 and the 2500 records before the failing one", exitCode(err), strings.Count(string(out), "\n"))
	}
	var stats struct {
		Stages []struct {
			Stage                                          string
			In, Passed, Dropped, Errors, NotProcessed, Out int64
		}
	}
	line := stderr.String()[strings.Index(stderr.String(), `{"time"`):]
	line = line[:strings.IndexByte(line, '\n')]
	if err := json.Unmarshal([]byte(strings.ReplaceAll(line, "not_processed", "notprocessed")), &stats); err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	var np int64
	for i, s := range stats.Stages {
		if s.In != s.Passed+s.Dropped+s.Errors+s.NotProcessed || i > 0 && s.In != stats.Stages[i-1].Out {
			t.Errorf("%+v does not account for its records", s)
		}
		np += s.NotProcessed
	}
	if np == 0 || stats.Stages[1].Errors != 1 {
		t.Errorf("no record reported not processed, or not 1 error: %s", line)
	}
	// The table has the column.
	cmd = exec.Command(pipeBin, "run", "--lua", `if rec == "2500" then error("bad") end return rec`, "--stats")
	cmd.Stdin = strings.NewReader(in.String())
	stderr.Reset()
	cmd.Stderr = &stderr
	_ = cmd.Run()
	if !strings.Contains(stderr.String(), "errors  not processed  dead-lettered") {
		t.Errorf("no not processed column:\n%s", stderr.String())
	}
}
