package engine

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) LookupEnv {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		line, col  int
		msg        string
	}{
		{"syntax", "stages:\n  - {name: a\n", 2, 1, "did not find expected"},
		{"not a mapping", "- a\n- b\n", 1, 1, "must be a mapping"},
		{"empty", "", 1, 1, "empty pipeline file"},
		{"unknown top", "nmae: x\n", 1, 1, `unknown field "nmae" (did you mean "name"?)`},
		{"unknown input", "input:\n  kodec: ndjson\n", 2, 3, `did you mean "codec"`},
		{"unknown defaults", "defaults: {timeot: 1s}\n", 1, 12, `did you mean "timeout"`},
		{"bad duration", "defaults: {timeout: fast}\n", 1, 21, "invalid duration"},
		{"negative duration", "defaults: {timeout: -1s}\n", 1, 21, "must not be negative"},
		{"bad size", "input: {max_record_bytes: 12 parsecs}\n", 1, 27, "invalid size"},
		{"bool type", "input: {reject_nul: yes please}\n", 1, 21, "expected true or false"},
		{"list for string", "name: [a]\n", 1, 7, "expected a string"},
		{"stages not list", "stages: {a: 1}\n", 1, 9, "expected a list"},
		{"duplicate key", "name: a\nname: b\n", 2, 1, "duplicate field"},
		{"parser error line", "a:\n  b: c\n d: e\n", 3, 1, "did not find expected key"},
		{"scanner error line", "x: 1\na: b: c\n", 2, 1, "mapping values are not allowed"},
		{"env missing", "name: ${NOPE}\n", 1, 7, "NOPE is not set"},
		{"env required", "name: ${NOPE:?give a name}\n", 1, 7, "NOPE: give a name"},
		{"env unclosed", "name: ${NOPE\n", 1, 7, "unclosed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), "p.yaml", WithEnv(env(nil)))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want *ConfigError", err)
			}
			if !strings.Contains(ce.Msg, c.msg) {
				t.Errorf("message %q does not contain %q", ce.Msg, c.msg)
			}
			if c.line != 0 && (ce.Line != c.line || ce.Col != c.col) {
				t.Errorf("position %d:%d, want %d:%d (%v)", ce.Line, ce.Col, c.line, c.col, err)
			}
			if ce.File != "p.yaml" || !strings.HasPrefix(err.Error(), "p.yaml:") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

func TestBuildErrors(t *testing.T) {
	cases := []struct{ name, yaml, msg string }{
		{"no type", "stages:\n  - {name: a}\n", "has no type"},
		{"no name", "stages:\n  - {type: native, use: x}\n", "has no name"},
		{"duplicate", "stages:\n  - {name: a, type: native, use: x}\n  - {name: a, type: native, use: x}\n", "duplicate stage name"},
		{"reserved name", "stages:\n  - {name: input, type: native, use: x}\n", "reserved"},
		{"unknown type", "stages:\n  - {name: a, type: cobol}\n", `unknown stage type "cobol"`},
		{"kind not built", "stages:\n  - {name: a, type: lua, code: x}\n", `unknown stage type "lua" (want one of: native)`},
		{"policy", "stages:\n  - {name: a, type: native, use: x, on_error: retry}\n", `on_error must be fail, drop or dead_letter, got "retry"`},
		{"workers", "stages:\n  - {name: a, type: native, use: x, workers: 100000}\n", "workers must be between"},
		{"codec", "input: {codec: tsv}\n", `unknown codec "tsv"`},
		{"csv settings without csv", "input: {codec: lines, csv: {columns: [a]}}\n", "csv: settings need codec: csv"},
		{"csv delimiter", "input: {codec: csv, csv: {delimiter: ';;'}}\n", "delimiter must be one ASCII character"},
		{"csv columns", "output: {codec: csv, csv: {columns: [a, a]}}\n", "column names must be unique"},
		{"input type", "input: {type: kafka}\n", `unknown input type "kafka"`},
		{"file needs path", "input: {type: file}\n", "needs a path"},
		{"stdin with path", "input: {path: x}\n", "only for type: file"},
		{"dead letter", "stages:\n  - {name: a, type: native, use: x, on_error: dead_letter}\n", "needs a dead_letter"},
		{"native unknown", "stages:\n  - {name: a, type: native, use: nope}\n", `no native transformer named "nope"`},
		{"native both", "stages:\n  - {name: a, type: native, use: x, path: y.so}\n", "not both"},
		{"native code", "stages:\n  - {name: a, type: native, code: x}\n", "not code"},
		{"extra field", "stages:\n  - {name: a, type: native, use: x, memory_limit: 1MiB}\n", `unknown field "memory_limit"`},
	}
	reg := NewRegistry()
	reg.Register("x", func(Config) (Transformer, error) { return TransformerFunc(nil), nil })
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec, err := Parse([]byte(c.yaml), "p.yaml")
			if err == nil {
				_, err = Build(spec, WithRegistry(reg))
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("err = %v, want a *ConfigError containing %q", err, c.msg)
			}
			if ce.Line == 0 {
				t.Errorf("error %q has no position", err)
			}
		})
	}
}

func TestExpandEnv(t *testing.T) {
	lookup := env(map[string]string{"A": "1", "EMPTY": ""})
	cases := map[string]string{
		"${A}":            "1",
		"x${A}y${A}":      "x1y1",
		"${B:-dflt}":      "dflt",
		"${EMPTY:-dflt}":  "dflt",
		"${EMPTY}":        "",
		"$${A}":           "${A}",
		"cost $5":         "cost $5",
		"${A:-x}${B:-y}z": "1yz",
	}
	for in, want := range cases {
		got, err := expandEnv(in, lookup)
		if err != nil || got != want {
			t.Errorf("expandEnv(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

func TestEnvExpansionTypesAndCode(t *testing.T) {
	yaml := "defaults: {workers: '${W}', timeout: ${T}}\nstages:\n  - {name: a, type: js, code: 'return `${x}`', config: {k: '${W}'}}\n"
	_, err := Parse([]byte(yaml), "p.yaml", WithEnv(env(map[string]string{"W": "3", "T": "250ms"})))
	if err == nil {
		t.Fatalf("${T}} in a flow mapping is a YAML syntax error; want it reported")
	}
	yaml = "defaults:\n  workers: '${W}'\n  timeout: ${T}\nstages:\n  - {name: a, type: js, code: 'return `${x}`', config: {k: '${W}'}}\n"
	spec, err := Parse([]byte(yaml), "p.yaml", WithEnv(env(map[string]string{"W": "3", "T": "250ms"})))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Defaults.Workers != 3 || *spec.Defaults.Timeout != 250*time.Millisecond {
		t.Errorf("defaults = %+v", spec.Defaults)
	}
	if spec.Stages[0].Code != "return `${x}`" {
		t.Errorf("code: was expanded: %q", spec.Stages[0].Code)
	}
	v, _ := spec.Stages[0].Config.Value()
	if v.(map[string]any)["k"] != 3 { // wholly ${W}: typed like the value
		t.Errorf("config not expanded: %v", v)
	}
}

func TestByteSize(t *testing.T) {
	ok := map[string]ByteSize{"512": 512, "64KiB": 64 << 10, "16MiB": 16 << 20, "1GB": 1e9, "1.5KiB": 1536, "2 mib": 2 << 20}
	for in, want := range ok {
		if got, err := ParseByteSize(in); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "-1", "ten", "5 parsecs", "99999999999GiB"} {
		if _, err := ParseByteSize(bad); err == nil {
			t.Errorf("ParseByteSize(%q): want an error", bad)
		}
	}
}

func TestConfigDecodeStrict(t *testing.T) {
	spec, err := Parse([]byte("stages:\n  - name: a\n    type: native\n    use: x\n    config:\n      n: 3\n      sub: {deep: 1, typo: 2}\n"), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		N   int `yaml:"n"`
		Sub struct {
			Deep int `yaml:"deep"`
		} `yaml:"sub"`
	}
	err = spec.Stages[0].Config.Decode(&c)
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Line != 7 || !strings.Contains(ce.Msg, `unknown field "typo"`) {
		t.Fatalf("err = %v, want unknown field typo at line 7", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"name: x\nstages:\n  - {name: a, type: native, use: x}\n",
		"input: {type: file, path: '*.log', codec: ndjson}\ndefaults: {timeout: 1s}\n",
		"stages: [{name: a, type: lua, code: '${X:-1}'}]",
		"a: &x [1]\nb: *x\n",
	} {
		f.Add([]byte(s))
	}
	reg := NewRegistry()
	reg.Register("x", func(Config) (Transformer, error) { return TransformerFunc(nil), nil })
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := Parse(data, "f.yaml", WithEnv(env(map[string]string{"X": "1"})))
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Parse error is not a *ConfigError: %T %v", err, err)
			}
			return
		}
		if _, err := Build(spec, WithRegistry(reg)); err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("Build error is not a *ConfigError: %T %v", err, err)
			}
		}
	})
}

// billionLaughs is a pipeline file whose aliases expand to 10^levels
// values, with ${VAR} references at the bottom.
func billionLaughs(levels int) string {
	var b strings.Builder
	b.WriteString("stages:\n  - name: a\n    type: js\n    code: return rec\n    config:\n      l0: &l0 ['${HOME}', '${HOME}', '${HOME}', '${HOME}', '${HOME}', '${HOME}', '${HOME}', '${HOME}', '${HOME}', '${HOME}']\n")
	for i := 1; i <= levels; i++ {
		p := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, "      l%d: &l%d [%s]\n", i, i, strings.Repeat(p+", ", 9)+p)
	}
	return b.String()
}

// An alias bomb is refused from its size, before anything walks its
// expansion (that would take hours at 12 levels); aliases that stay small
// still work, and each node they reach is expanded once.
func TestAliasBomb(t *testing.T) {
	_, err := Parse([]byte(billionLaughs(12)), "bomb.yaml", WithEnv(env(map[string]string{"HOME": "/h"})))
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(ce.Error(), "alias bomb") || ce.Line == 0 {
		t.Fatalf("err = %v; want a positioned config error about an alias bomb", err)
	}
	err = DecodeYAML([]byte(billionLaughs(12)), "m.yaml", &struct{}{})
	if !errors.As(err, &ce) || !strings.Contains(ce.Error(), "alias bomb") {
		t.Fatalf("DecodeYAML: err = %v; want the alias bomb refused", err)
	}
	spec, err := Parse([]byte(billionLaughs(2)), "small.yaml", WithEnv(env(map[string]string{"HOME": "/h"})))
	if err != nil {
		t.Fatal(err)
	}
	v, err := spec.Stages[0].Config.Value()
	if err != nil {
		t.Fatal(err)
	}
	l1 := v.(map[string]any)["l1"].([]any)
	if len(l1) != 10 || l1[9].([]any)[9] != "/h" {
		t.Errorf("l1 = %v; want 10x10 expanded values", l1)
	}
}
