package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

func runMain(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestStagesPrintsOptions(t *testing.T) {
	out, errText, code := runMain(t, "stages", "select")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errText)
	}
	for _, want := range []string{"native transformer select", "Options", "NAME", "DEFAULT", "DESCRIPTION",
		"field", "meta", "equals", "not_equals", "matches", "gte", "exists", "Example: keep errors"} {
		if !strings.Contains(out, want) {
			t.Errorf("pipe stages select does not print %q:\n%s", want, out)
		}
	}
	// select needs field: or meta:, neither alone; grep's pattern is required.
	if g, _, _ := runMain(t, "stages", "grep"); !regexp.MustCompile(`(?m)^\s+pattern\s+string\s+\(required\)`).MatchString(g) {
		t.Errorf("pipe stages grep does not mark pattern (required):\n%s", g)
	}
	if !regexp.MustCompile(`(?m)^\s+equals\s+any\s+-\s+-\s+error\s+Keep records whose field equals this value\.$`).MatchString(out) {
		t.Errorf("no options row for equals:\n%s", out)
	}
	docs, _, code := runMain(t, "docs", "select")
	if code != 0 || docs != out {
		t.Errorf("pipe docs select (exit %d) differs from pipe stages select", code)
	}
}

func TestStagesListsComponents(t *testing.T) {
	out, _, code := runMain(t, "stages")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"stage kinds: native", "native transformers", "select", "inputs", "stdin", "outputs", "codecs", "ndjson"} {
		if !strings.Contains(out, want) {
			t.Errorf("pipe stages does not list %q:\n%s", want, out)
		}
	}
	both, _, _ := runMain(t, "docs", "file")
	if !strings.Contains(both, "input file") || !strings.Contains(both, "output file") {
		t.Errorf("pipe docs file shows %q, want the input and the output", both)
	}
}

func TestDocsUnknownComponent(t *testing.T) {
	_, errText, code := runMain(t, "docs", "selct")
	if code != ExitUsage || !strings.Contains(errText, `no component named "selct" (did you mean "select"?)`) {
		t.Errorf("exit %d, stderr %q", code, errText)
	}
}

// pipe lint reports a mistake in each of three stages, one line each, with
// positions, and exits 2.
func TestLintReportsEveryMistake(t *testing.T) {
	file := filepath.Join(t.TempDir(), "bad.yaml")
	yaml := "input: {type: stdin, codec: ndjson}\nstages:\n" +
		"  - {name: a, type: native, use: grep, config: {patern: x}}\n" +
		"  - {name: b, type: native, use: select, config: {field: level, equal: error}}\n" +
		"  - {name: c, type: native, use: case, config: {to: upper}, workers: many}\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errText, code := runMain(t, "lint", file)
	if code != ExitUsage {
		t.Errorf("exit %d, want %d", code, ExitUsage)
	}
	lines := strings.Split(strings.TrimSpace(errText), "\n")
	want := []string{
		"pipe: " + file + `:3:49: unknown field "patern" (did you mean "pattern"?)`,
		"pipe: " + file + `:4:65: unknown field "equal" (did you mean "equals"?)`,
		"pipe: " + file + `:5:70: expected an integer, got "many"`,
	}
	if len(lines) != len(want) {
		t.Fatalf("stderr has %d lines, want %d:\n%s", len(lines), len(want), errText)
	}
	for i := range want {
		if !strings.HasPrefix(lines[i], want[i]) {
			t.Errorf("line %d = %q, want %q...", i+1, lines[i], want[i])
		}
	}
}

func TestSchemaHasNativeConfigs(t *testing.T) {
	out, _, code := runMain(t, "schema")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("pipe schema is not JSON: %v", err)
	}
	for _, want := range []string{`"not_equals"`, `"const": "select"`, `"tests"`, `"unordered"`} {
		if !strings.Contains(out, want) {
			t.Errorf("pipe schema lacks %s", want)
		}
	}
}

type suffixStage struct{ suffix string }

func (s suffixStage) New(context.Context) (engine.Transformer, error) { return s, nil }
func (s suffixStage) Transform(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
	r.Data = append(r.Data, s.suffix...)
	emit(r)
	return nil
}

// Filter-mode flags come from the kinds: a kind registered with a
// FilterFlag gets its --NAME flag, and --arg goes to its Args field.
func TestFilterFlagFromKind(t *testing.T) {
	reg := engine.NewRegistry()
	reg.RegisterKindSpec(engine.KindSpec{Name: "suffix", Summary: "append text",
		Options: struct {
			Times []string `yaml:"times" doc:"Extra suffixes."`
		}{},
		Build: func(s *engine.StageSpec, _ *engine.BuildEnv) (engine.Stage, error) {
			var o struct {
				Times []string `yaml:"times"`
			}
			if err := s.Extra.Decode(&o); err != nil {
				return nil, err
			}
			return suffixStage{s.Code + strings.Join(o.Times, "")}, nil
		},
		Flag: &engine.FilterFlag{Value: "TEXT", Usage: "filter mode: append TEXT", Args: "times",
			Set: func(s *engine.StageSpec, v string) { s.Code = v }},
	})
	var out, errb bytes.Buffer
	code := mainWith(reg, []string{"run", "--suffix", "!", "--arg", "?", "--native", "x"}, strings.NewReader("a\n"), &out, &errb)
	if code != ExitUsage || !strings.Contains(errb.String(), `no native transformer named "x"`) {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	out.Reset()
	errb.Reset()
	code = mainWith(reg, []string{"run", "--suffix", "!", "--arg", "?", "--suffix", "."}, strings.NewReader("a\nb\n"), &out, &errb)
	if code != 0 || out.String() != "a!?.\nb!?.\n" {
		t.Errorf("exit %d, out %q, stderr %s", code, out.String(), errb.String())
	}
	var help bytes.Buffer
	mainWith(reg, []string{"run", "--help"}, strings.NewReader(""), &help, &help)
	if !strings.Contains(help.String(), "--suffix TEXT") || !strings.Contains(help.String(), "filter mode: append TEXT") {
		t.Errorf("run --help does not show the kind's flag:\n%s", help.String())
	}
	errb.Reset()
	if code := mainWith(reg, []string{"run", "--native", "case", "--arg", "x"}, strings.NewReader(""), &out, &errb); code != ExitUsage ||
		!strings.Contains(errb.String(), "--arg must follow the stage flag it is for (--suffix)") {
		t.Errorf("--arg after a kind without args: exit %d, %s", code, errb.String())
	}
}
