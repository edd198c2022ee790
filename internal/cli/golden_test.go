package cli

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	_ "github.com/pipe-dev/pipe/stages/native"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/golden")

// TestGolden runs every testdata/golden/<case>: the command line in cmd
// (one argument per line; DIR is the case folder), stdin from input, and
// compares stdout with expected, stderr with stderr and the exit code with
// exit (0 when absent). Other files in the folder (pipeline.yaml, data)
// are the case's own.
func TestGolden(t *testing.T) {
	dirs, err := filepath.Glob("testdata/golden/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, dir := range dirs {
		t.Run(filepath.Base(dir), func(t *testing.T) {
			cmd, err := os.ReadFile(filepath.Join(dir, "cmd"))
			if err != nil {
				t.Fatal(err)
			}
			var args []string
			for _, a := range strings.Split(strings.TrimRight(string(cmd), "\n"), "\n") {
				args = append(args, strings.ReplaceAll(a, "DIR", dir))
			}
			stdin, _ := os.ReadFile(filepath.Join(dir, "input"))
			for _, gen := range []string{"dead.ndjson", "out.txt"} {
				os.Remove(filepath.Join(dir, gen))
			}
			var stdout, stderr bytes.Buffer
			code := Main(args, bytes.NewReader(stdin), &stdout, &stderr)
			errText := normalize(stderr.String(), dir)
			if dl, err := os.ReadFile(filepath.Join(dir, "dead.ndjson")); err == nil {
				// Dead letters carry a time: keep the rest for the comparison.
				stdout.WriteString("--- dead letters ---\n")
				stdout.WriteString(stripTimes(string(dl)))
				os.Remove(filepath.Join(dir, "dead.ndjson"))
			}
			if *update {
				write(t, filepath.Join(dir, "expected"), stdout.String())
				write(t, filepath.Join(dir, "stderr"), errText)
				if code != 0 {
					write(t, filepath.Join(dir, "exit"), strconv.Itoa(code)+"\n")
				} else {
					os.Remove(filepath.Join(dir, "exit"))
				}
				return
			}
			want := read(t, filepath.Join(dir, "expected"))
			if stdout.String() != want {
				t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
			}
			if wantErr := read(t, filepath.Join(dir, "stderr")); errText != wantErr {
				t.Errorf("stderr:\n%s\nwant:\n%s", errText, wantErr)
			}
			wantCode := 0
			if s := strings.TrimSpace(read(t, filepath.Join(dir, "exit"))); s != "" {
				wantCode, _ = strconv.Atoi(s)
			}
			if code != wantCode {
				t.Errorf("exit code %d, want %d", code, wantCode)
			}
		})
	}
}

var (
	durRE   = regexp.MustCompile(`\b\d+(\.\d+)?(ns|µs|ms|s|m)\b`)
	rateRE  = regexp.MustCompile(`\(\d+ records/s\)`)
	spaceRE = regexp.MustCompile(`[ \t]+`)
)

// normalize makes stderr comparable: the case folder as DIR, and the
// timings of --stats (which vary from run to run) as T.
func normalize(s, dir string) string {
	s = strings.ReplaceAll(s, dir, "DIR")
	s = durRE.ReplaceAllString(s, "T")
	s = rateRE.ReplaceAllString(s, "(R records/s)")
	return spaceRE.ReplaceAllString(s, " ")
}

func stripTimes(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if i := strings.Index(l, `"time":"`); i >= 0 {
			if j := strings.Index(l[i+8:], `"`); j >= 0 {
				l = l[:i] + `"time":"T"` + l[i+8+j+1:]
			}
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(b)
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if s == "" {
		os.Remove(path)
		return
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
