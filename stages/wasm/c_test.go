package wasm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
	"github.com/pipe-dev/pipe/internal/gendata"
	_ "github.com/pipe-dev/pipe/stages/native" // the native workloads, to compare with
)

// The C guests (guest/c/*.c) are built once, on first use, into bin/c with
// the flags of fixtures.mk (WASM_CFLAGS), so the tests build them exactly
// as `make fixtures` does. Without the toolchain (Debian's clang, lld,
// wasi-libc, libclang-rt-14-dev-wasm32: make fixtures installs them) the C
// tests are skipped.
var (
	cOnce  sync.Once
	cDir   string
	cErr   error // the build failed
	cSkip  error // no toolchain
	cFlags []string
)

const cSrc = "guest/c"

// wasmCFlags returns WASM_CFLAGS of fixtures.mk.
func wasmCFlags() ([]string, error) {
	mk, err := os.ReadFile("fixtures.mk")
	if err != nil {
		return nil, err
	}
	m := regexp.MustCompile(`(?m)^WASM_CFLAGS\s*\?=\s*(.+)$`).FindSubmatch(mk)
	if m == nil {
		return nil, errors.New("fixtures.mk has no WASM_CFLAGS")
	}
	return strings.Fields(string(m[1])), nil
}

func buildC() {
	cFlags, cErr = wasmCFlags()
	if cErr != nil {
		return
	}
	if _, err := exec.LookPath("clang"); err != nil {
		cSkip = fmt.Errorf("clang not installed (make fixtures installs Debian's clang, lld, wasi-libc, libclang-rt-14-dev-wasm32): %w", err)
		return
	}
	cDir = filepath.Join(bin, "c")
	if err := os.MkdirAll(cDir, 0o755); err != nil {
		cErr = err
		return
	}
	// A reactor with nothing in it tells a missing wasi-libc or compiler-rt
	// from a broken guest.
	probe := filepath.Join(cDir, "probe.c")
	os.WriteFile(probe, []byte("int x;\n"), 0o644)
	if out, err := exec.Command("clang", append(cFlags, "-o", filepath.Join(cDir, "probe.wasm"), probe)...).CombinedOutput(); err != nil {
		cSkip = fmt.Errorf("clang cannot build a wasm32-wasi reactor (make fixtures installs wasi-libc, lld and libclang-rt-14-dev-wasm32): %v\n%s", err, out)
		return
	}
	srcs, _ := filepath.Glob(filepath.Join(cSrc, "*.c"))
	if len(srcs) == 0 {
		cErr = errors.New("no C guests in " + cSrc)
		return
	}
	var wg sync.WaitGroup
	errs := make([]error, len(srcs))
	sem := make(chan struct{}, 2)
	for i, src := range srcs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			out := filepath.Join(cDir, strings.TrimSuffix(filepath.Base(src), ".c")+".wasm")
			if b, err := exec.Command("clang", append(cFlags, "-o", out, src)...).CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("clang %s: %v\n%s", src, err, b)
			}
		}()
	}
	wg.Wait()
	cErr = errors.Join(errs...)
}

// cGuest returns the path of a built C guest (guest/c/name.c), skipping the
// test when the toolchain is missing.
func cGuest(t testing.TB, name string) string {
	t.Helper()
	cOnce.Do(buildC)
	if cSkip != nil {
		t.Skip(cSkip)
	}
	if cErr != nil {
		t.Fatal(cErr)
	}
	return filepath.Join(cDir, name+".wasm")
}

func cCases(t testing.TB, mode string) engine.StageSpec {
	return engine.StageSpec{Name: "g", Type: "wasm", Path: cGuest(t, "cases"),
		Config: engine.ConfigOf(map[string]any{"case": mode})}
}

// TestConformanceC runs the engine's conformance suite against the C cases
// guest (guest/c/cases.c).
func TestConformanceC(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, c enginetest.Case) engine.StageSpec {
		return cCases(t, string(c))
	}, enginetest.Options{})
}

// TestCBadGuests: a C guest that traps, runs out of memory or misuses the
// SDK fails the record alone; its neighbours in the batch pass.
func TestCBadGuests(t *testing.T) {
	tests := []struct {
		name, mode, bad, error string
		memory                 string
	}{
		{"trap", "trap", "boom", "guest trapped: wasm error: unreachable", ""},
		{"malloc_fails_past_memory_limit", "alloc", "big", "out of memory", "16MiB"},
		{"output_left_open", "nested", "r3", "an output was begun but not ended", ""},
		{"unknown_case", "nope", "r3", `unknown case "nope"`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sp := cCases(t, tc.mode)
			if tc.memory != "" {
				sp.Extra = engine.ConfigOf(map[string]any{"memory_limit": tc.memory})
			}
			to := 2 * time.Second
			sp.Timeout = &to
			in := []string{"r1", "r2", tc.bad, "r4", "r5"}
			if tc.mode == "nested" || tc.mode == "nope" {
				// every record fails: check the one message
				sp.OnError = engine.OnErrorFail
				_, err := runC(t, sp, "lines", "r1\n")
				if err == nil || !strings.Contains(err.Error(), tc.error) {
					t.Fatalf("err = %v, want %q", err, tc.error)
				}
				return
			}
			out, st := run(t, sp, in...)
			if want := []string{"r1", "r2", "r4", "r5"}; fmt.Sprint(out) != fmt.Sprint(want) {
				t.Errorf("output %q, want the neighbours %q", out, want)
			}
			if st.Errors != 1 {
				t.Errorf("stats %+v, want 1 error", st)
			}
			sp.OnError = engine.OnErrorFail
			_, err := runC(t, sp, "lines", strings.Join(in, "\n")+"\n")
			var se *engine.StageError
			if !errors.As(err, &se) || se.Record != 3 || !strings.Contains(err.Error(), tc.error) {
				t.Errorf("err = %v, want record 3, containing %q", err, tc.error)
			}
		})
	}
}

// TestCGuestOutputLogged: printf, stderr and pipe_log of a C guest reach
// the host log with the stage's name.
func TestCGuestOutputLogged(t *testing.T) {
	var logs enginetest.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	spec := &engine.Spec{Input: engine.InputSpec{Codec: "lines"}, Stages: []engine.StageSpec{cCases(t, "print")}}
	p, err := engine.Build(spec, engine.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader("r1\n"), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "r1\n" {
		t.Errorf("output %q, want r1", out.String())
	}
	for _, w := range []string{`level=INFO msg="stdout says r1"`, `level=WARN msg="stderr says r1"`, `msg="cases guest ready: print"`, "stage=g"} {
		if !strings.Contains(logs.String(), w) {
			t.Errorf("log does not contain %q:\n%s", w, logs.String())
		}
	}
}

// runC runs input through one stage under codec and returns the output.
func runC(t *testing.T, sp engine.StageSpec, codec, input string) (string, error) {
	t.Helper()
	return runSpecC(t, &engine.Spec{Input: engine.InputSpec{Codec: codec}, Stages: []engine.StageSpec{sp}}, input)
}

func runSpecC(t *testing.T, spec *engine.Spec, input string) (string, error) {
	t.Helper()
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err = p.RunReader(ctx, strings.NewReader(input), &out)
	return out.String(), err
}

// workload parses bench/workloads/kind/w.yaml; a wasm stage's module is
// the C guest of the same name.
func workload(t *testing.T, kind, w string) *engine.Spec {
	t.Helper()
	f := filepath.Join("..", "..", "bench", "workloads", kind, w+".yaml")
	yaml, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := engine.Parse(yaml, f)
	if err != nil {
		t.Fatal(err)
	}
	for i := range spec.Stages {
		if spec.Stages[i].Type == "wasm" {
			spec.Stages[i].Path = cGuest(t, w)
		}
	}
	return spec
}

// TestCWorkloadsSameAsNative: the C guests' W1-W3 (bench/workloads/wasm-c)
// give byte for byte the output of the native workloads
// (bench/workloads/native) on the shared benchmark data, 100,000 records
// (20,000 under the race detector, 10,000 with -short).
func TestCWorkloadsSameAsNative(t *testing.T) {
	n := 100000
	if raceEnabled {
		n = 20000
	}
	if testing.Short() {
		n = 10000
	}
	var data bytes.Buffer
	if err := gendata.Write(&data, n, 42); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"w1", "w2", "w3"} {
		t.Run(w, func(t *testing.T) {
			want, err := runSpecC(t, workload(t, "native", w), data.String())
			if err != nil {
				t.Fatal(err)
			}
			got, err := runSpecC(t, workload(t, "wasm-c", w), data.String())
			if err != nil {
				t.Fatal(err)
			}
			if strings.Count(want, "\n") < n/10 {
				t.Fatalf("native %s gave %d records for %d", w, strings.Count(want, "\n"), n)
			}
			if got != want {
				gl, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
				for i := range min(len(gl), len(wl)) {
					if gl[i] != wl[i] {
						t.Fatalf("%d lines, want %d; line %d:\n got %s\nwant %s", len(gl), len(wl), i+1, gl[i], wl[i])
					}
				}
				t.Fatalf("%d lines, want %d", len(gl), len(wl))
			}
		})
	}
}

// TestCWorkloadsEdgeCases: on records that stress the JSON scanner
// (escapes in keys and values, nested values, duplicate keys, blanks,
// non-ASCII text, fields missing or of another type, values that are not
// objects), the C guests give what the native stages give, record for
// record: the same output and the same records failed.
func TestCWorkloadsEdgeCases(t *testing.T) {
	edge, err := os.ReadFile(filepath.Join(cSrc, "testdata", "edge.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(edge), "\n"), "\n")
	for _, w := range []string{"w1", "w2", "w3"} {
		for i, line := range lines {
			native, nerr := runEdge(t, workload(t, "native", w), line)
			c, cerr := runEdge(t, workload(t, "wasm-c", w), line)
			if nerr != nil && strings.Contains(nerr.Error(), "duplicate key") {
				// pipe's rule for repeated keys binds the native, lua and
				// js stages, which read fields for the user; a wasm guest
				// gets the record's bytes and decides (README, "The stage").
				continue
			}
			if (c != native && !sameJSONLines(c, native)) || (nerr == nil) != (cerr == nil) {
				t.Errorf("%s, edge.ndjson line %d %s:\n C      %q (error %v)\n native %q (error %v)", w, i+1, line, c, cerr, native, nerr)
			}
		}
	}
}

// sameJSONLines reports whether a and b are the same JSON values line by
// line, whatever the escapes chosen (the C guests escape <, >, & and
// U+2028 as Go's encoding/json does; the native stages write them as
// they are).
func sameJSONLines(a, b string) bool {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(al) != len(bl) {
		return false
	}
	for i := range al {
		if al[i] == bl[i] {
			continue
		}
		var av, bv any
		if json.Unmarshal([]byte(al[i]), &av) != nil || json.Unmarshal([]byte(bl[i]), &bv) != nil || !reflect.DeepEqual(av, bv) {
			return false
		}
	}
	return true
}

func runEdge(t *testing.T, spec *engine.Spec, line string) (string, error) {
	t.Helper()
	for i := range spec.Stages {
		spec.Stages[i].OnError = engine.OnErrorFail
	}
	return runSpecC(t, spec, line+"\n")
}

// TestCUpperUnicode: the C W2 guest upper-cases text as Go's bytes.ToUpper
// (the native case stage) does, over every letter of the Basic
// Multilingual Plane and invalid UTF-8.
func TestCUpperUnicode(t *testing.T) {
	var lines []string
	var line []byte
	for r := rune(0x80); r <= utf8.MaxRune; r++ {
		if r >= 0xD800 && r <= 0xDFFF {
			continue
		}
		line = utf8.AppendRune(line, r)
		if len(line) > 900 {
			lines = append(lines, string(line))
			line = line[:0]
		}
	}
	lines = append(lines, string(line), "abc\xffdef\xc3", "\xed\xa0\x80 surrogate, \xf4\x90\x80\x80 past U+10FFFF, \xc0\xaf overlong")
	input := strings.Join(lines, "\n") + "\n"
	got, err := runC(t, engine.StageSpec{Name: "w2", Type: "wasm", Path: cGuest(t, "w2")}, "lines", input)
	if err != nil {
		t.Fatal(err)
	}
	gl := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
	if len(gl) != len(lines) {
		t.Fatalf("%d lines, want %d", len(gl), len(lines))
	}
	diff := 0
	for i, l := range lines {
		want := string(bytes.ToUpper([]byte(l)))
		if gl[i] == want {
			continue
		}
		gr, wr := []rune(gl[i]), []rune(want)
		for j := range min(len(gr), len(wr)) {
			if gr[j] != wr[j] {
				if diff++; diff <= 100 {
					t.Errorf("line %d: rune %d is %U, want %U (from %U)", i+1, j, gr[j], wr[j], []rune(l)[j])
				}
			}
		}
		if len(gr) != len(wr) {
			t.Errorf("line %d: %d runes, want %d", i+1, len(gr), len(wr))
		}
	}
	if diff > 0 {
		t.Errorf("%d runes upper-cased differently", diff)
	}
}

// TestREADMECGuest checks that the README's C guest is guest/c/upper.c and
// that the README's build command, run as written, makes a module that
// runs the README's examples (the C one included).
func TestREADMECGuest(t *testing.T) {
	cGuest(t, "upper") // skips without the toolchain
	md, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(cSrc, "upper.c"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```c\n(.*?)```").FindSubmatch(md)
	if m == nil {
		t.Fatal("README has no C guest")
	}
	if !bytes.HasSuffix(src, m[1]) {
		t.Errorf("README's C guest is not %s/upper.c:\n%s", cSrc, m[1])
	}
	cmd := regexp.MustCompile(`(?m)^    (clang --target=wasm32-wasi .*-o upper\.wasm upper\.c)$`).FindSubmatch(md)
	if cmd == nil {
		t.Fatal("README has no clang command building upper.wasm")
	}
	dir := t.TempDir()
	for _, f := range []string{"upper.c", "pipe_guest.h"} {
		b, err := os.ReadFile(filepath.Join(cSrc, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := strings.Fields(string(cmd[1]))
	c := exec.Command(args[0], args[1:]...)
	c.Dir = dir
	if out, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmd[1], err, out)
	}
	n := enginetest.RunREADMEExamplesMapped(t, "README.md", func(p string) string {
		name := strings.TrimSuffix(filepath.Base(p), ".wasm")
		switch filepath.Base(filepath.Dir(p)) {
		case "wat":
			return wat(t, name)
		case "c":
			if name != "upper" {
				t.Fatalf("README example uses C guest %s; only upper is built from the README's command", name)
			}
			return filepath.Join(dir, "upper.wasm")
		}
		return guest(name)
	})
	if n < 2 {
		t.Errorf("README has %d examples, want the Go/WAT one and the C one", n)
	}
}

// TestCConfigRejected: pipe_guest_init's message rejects the config at load
// time, positioned at the stage's config: line.
func TestCConfigRejected(t *testing.T) {
	file := writePipeline(t, "    path: "+cGuest(t, "cases")+"\n    config: {case: reject}")
	enginetest.CheckLoadError(t, file, "6:13", "rejected its config: case reject: this config is refused")
}
