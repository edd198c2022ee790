package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/component"
)

type testMatchConfig struct {
	Pattern string `yaml:"pattern" required:"true" doc:"What to match."`
	Mode    string `yaml:"mode" enum:"fast,exact" default:"exact" doc:"How to match."`
	Limit   int    `yaml:"limit" default:"10" doc:"How many."`
}

type passThrough struct{}

func (passThrough) Transform(_ context.Context, r *Record, emit func(*Record)) error {
	emit(r)
	return nil
}

// specRegistry has a native transformer "match" with a spec, whose
// constructor also refuses pattern "bad" (a check only it can make).
func specRegistry(t *testing.T) (*Registry, *testMatchConfig) {
	t.Helper()
	reg := NewRegistry()
	got := &testMatchConfig{}
	reg.RegisterNative(Native{Name: "match", Summary: "match records", Config: testMatchConfig{},
		New: func(cfg Config) (Transformer, error) {
			var c testMatchConfig
			if err := cfg.Decode(&c); err != nil {
				return nil, err
			}
			if c.Pattern == "bad" {
				return nil, cfg.Errorf("pattern", "pattern %q is bad", c.Pattern)
			}
			*got = c
			return passThrough{}, nil
		}})
	reg.Register("open", func(cfg Config) (Transformer, error) { return passThrough{}, nil })
	return reg, got
}

func load(reg *Registry, yaml string) error {
	spec, err := Parse([]byte(yaml), "p.yaml", WithRegistry(reg), WithEnv(env(nil)))
	if err != nil {
		return err
	}
	_, err = Build(spec, WithRegistry(reg))
	return err
}

// A file with three mistakes in three stages reports all three, each with
// its position, in file order; errors.As finds the first.
func TestThreeMistakesInThreeStages(t *testing.T) {
	reg, _ := specRegistry(t)
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"parse-time", "stages:\n" +
			"  - {name: a, type: native, use: match, config: {patern: x}}\n" +
			"  - {name: b, type: native, use: match, config: {pattern: x}, timeout: soon}\n" +
			"  - {name: c, type: native, use: match, config: {pattern: x, mode: sideways}}\n",
			[]string{`p.yaml:2:50: unknown field "patern" (did you mean "pattern"?)`, `p.yaml:3:72: invalid duration "soon"`,
				`p.yaml:4:68: mode must be fast or exact, got "sideways"`}},
		{"build-time", "stages:\n" +
			"  - {name: a, type: native, use: match, config: {pattern: bad}}\n" +
			"  - {name: b, type: native, use: nope}\n" +
			"  - {name: c, type: native, use: match, config: {pattern: bad}}\n",
			[]string{`p.yaml:2:59: pattern "bad" is bad`, `p.yaml:3:34: no native transformer named "nope"`, `p.yaml:4:59: pattern "bad" is bad`}},
		{"kind fields and config", "stages:\n" +
			"  - {name: a, type: native, use: match, config: {pattern: x}, workres: 2}\n" +
			"  - {name: b, type: native, use: match, config: {pattern: x, limit: many}}\n" +
			"  - {name: c, type: native, use: match}\n",
			[]string{`p.yaml:2:72: unknown field "workres" (did you mean "workers"?)`, `p.yaml:3:69: expected an integer, got "many"`,
				`p.yaml:4:5: stage c: config: missing required field "pattern"`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := load(reg, c.yaml)
			var list ConfigErrors
			if !errors.As(err, &list) || len(list) != 3 {
				t.Fatalf("err = %v, want three config errors", err)
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != 3 {
				t.Fatalf("Error() has %d lines, want one per error:\n%v", len(lines), err)
			}
			for i, want := range c.want {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("error %d = %q, want it to start with %q", i+1, lines[i], want)
				}
			}
			var first *ConfigError
			if !errors.As(err, &first) || first != list[0] || first.Line != 2 {
				t.Errorf("errors.As(*ConfigError) = %v, want the first error", first)
			}
			if all := AllConfigErrors(err); len(all) != 3 {
				t.Errorf("AllConfigErrors = %d errors", len(all))
			}
		})
	}
}

// One mistake stays one *ConfigError, as before.
func TestOneMistakeIsOneConfigError(t *testing.T) {
	reg, _ := specRegistry(t)
	err := load(reg, "stages:\n  - {name: a, type: native, use: match, config: {patern: x}}\n")
	var ce *ConfigError
	if !errors.As(err, &ce) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("err = %#v", err)
	}
	var list ConfigErrors
	if errors.As(err, &list) {
		t.Errorf("a single error came as a ConfigErrors")
	}
}

// A stage without a config: block gets its file, line and name in errors
// about its config, also those its constructor finds.
func TestErrorsOfStageWithoutConfig(t *testing.T) {
	reg := NewRegistry()
	reg.Register("needy", func(cfg Config) (Transformer, error) {
		if cfg.IsZero() {
			return nil, cfg.Errorf("", "needy needs a config")
		}
		return passThrough{}, nil
	})
	for _, yaml := range []string{
		"stages:\n  - name: first\n    type: native\n    use: needy\n",
		"stages:\n  - {name: first, type: native, use: needy}\n",
	} {
		err := load(reg, yaml)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("err = %v", err)
		}
		if ce.File != "p.yaml" || ce.Line != 2 || !strings.Contains(ce.Msg, "stage first") || !strings.Contains(ce.Msg, "needy needs a config") {
			t.Errorf("err = %v, want p.yaml:2, the stage's name and the message", err)
		}
	}
}

// The decoder applies the spec's defaults, and a stage with a spec gets
// them even without a config: block.
func TestSpecDefaultsApplied(t *testing.T) {
	reg, got := specRegistry(t)
	if err := load(reg, "stages:\n  - {name: a, type: native, use: match, config: {pattern: x}}\n"); err != nil {
		t.Fatal(err)
	}
	if got.Mode != "exact" || got.Limit != 10 {
		t.Errorf("config = %+v, want the defaults mode exact, limit 10", *got)
	}
}

// A native registered without a spec takes any config (it checks its own).
func TestOpenNativeConfig(t *testing.T) {
	reg, _ := specRegistry(t)
	if err := load(reg, "stages:\n  - {name: a, type: native, use: open, config: {anything: [1, 2]}}\n"); err != nil {
		t.Fatal(err)
	}
	n, _ := reg.LookupNative("open")
	if s := n.Spec(); !s.Open || len(s.Fields) != 0 {
		t.Errorf("spec of a native without Config = %+v, want open", s)
	}
}

func TestRegistrySpecsAndClone(t *testing.T) {
	reg, _ := specRegistry(t)
	c := reg.Clone()
	c.Register("only-in-clone", func(Config) (Transformer, error) { return passThrough{}, nil })
	if _, ok := reg.LookupNative("only-in-clone"); ok {
		t.Error("registering in a clone changed the original")
	}
	if _, ok := c.LookupNative("match"); !ok {
		t.Error("the clone lost a transformer")
	}
	specs := reg.Lookup("match")
	if len(specs) != 1 || specs[0].Class != component.ClassNative {
		t.Fatalf("Lookup(match) = %+v", specs)
	}
	f, ok := specs[0].Lookup("mode")
	if !ok || f.Default != "exact" || fmt.Sprint(f.Enum) != "[fast exact]" || f.Doc == "" || f.Type != component.String {
		t.Errorf("field mode = %+v", f)
	}
	if p, _ := specs[0].Lookup("pattern"); !p.Required {
		t.Error("pattern is not required")
	}
	if got := reg.Lookup("file"); len(got) != 2 || got[0].Class != component.ClassInput || got[1].Class != component.ClassOutput {
		t.Errorf("Lookup(file) = %+v, want the input and the output", got)
	}
	if got := reg.Lookup("output/file"); len(got) != 1 || got[0].Class != component.ClassOutput {
		t.Errorf("Lookup(output/file) = %+v", got)
	}
	for _, name := range []string{"stdin", "stdout", "lines", "ndjson", "raw", "native"} {
		if len(reg.Lookup(name)) != 1 {
			t.Errorf("no component %s", name)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("a config that is not a struct did not panic")
		}
	}()
	reg.RegisterNative(Native{Name: "bad", New: func(Config) (Transformer, error) { return nil, nil }, Config: 3})
}

type toyStage struct{ arg string }

func (s toyStage) New(context.Context) (Transformer, error) { return passThrough{}, nil }

// A kind describes its files (for --watch) and whether a change can be
// applied live; Pipeline.Files and Pipeline.CheckLive read that.
func TestKindFilesAndLive(t *testing.T) {
	type toyOptions struct {
		Lib []string `yaml:"lib" doc:"Library directories."`
		Pin string   `yaml:"pin" doc:"A version the stage is pinned to."`
	}
	reg := NewRegistry()
	var livePrev []Stage
	reg.RegisterKindSpec(KindSpec{Name: "toy", Summary: "a toy kind", Options: toyOptions{},
		Build: func(s *StageSpec, env *BuildEnv) (Stage, error) {
			var o toyOptions
			if err := s.Extra.Decode(&o); err != nil {
				return nil, err
			}
			return toyStage{arg: o.Pin}, nil
		},
		Files: func(s *StageSpec) []string {
			var o toyOptions
			_ = s.Extra.Decode(&o)
			return append([]string{s.Path}, o.Lib...)
		},
		Live: func(prev Stage, next *StageSpec) error {
			livePrev = append(livePrev, prev)
			var o toyOptions
			_ = next.Extra.Decode(&o)
			if p, ok := prev.(toyStage); ok && p.arg != o.Pin {
				return fmt.Errorf("pin changed from %s to %s: restart", p.arg, o.Pin)
			}
			return nil
		},
	})
	build := func(yaml string) *Pipeline {
		t.Helper()
		spec, err := Parse([]byte(yaml), "/pipes/p.yaml", WithRegistry(reg))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Build(spec, WithRegistry(reg))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := build("stages:\n  - {name: a, type: toy, path: x.toy, lib: [lib, /abs/lib], pin: v1, schema: s.json}\n")
	want := []string{"/pipes/p.yaml", "/pipes/x.toy", "/pipes/lib", "/abs/lib", "/pipes/s.json"}
	if got := p.Files(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Files() = %v, want %v", got, want)
	}
	if err := p.CheckLive(build("stages:\n  - {name: a, type: toy, path: x.toy, pin: v1}\n  - {name: b, type: toy, pin: v2}\n")); err != nil {
		t.Errorf("same pin refused: %v", err)
	}
	if len(livePrev) != 2 || livePrev[0] == nil || livePrev[1] != nil {
		t.Errorf("Live got prev %v, want the running stage a, then nil for the new stage b", livePrev)
	}
	err := p.CheckLive(build("stages:\n  - {name: a, type: toy, path: x.toy, pin: v2}\n"))
	if err == nil || !strings.Contains(err.Error(), `stage a: pin changed from v1 to v2: restart`) {
		t.Errorf("CheckLive = %v, want the kind's refusal naming the stage", err)
	}
	if _, err := Parse([]byte("stages:\n  - {name: a, type: toy, pinn: v1}\n"), "p.yaml", WithRegistry(reg)); err == nil ||
		!strings.Contains(err.Error(), `unknown field "pinn" (did you mean "pin"?)`) || !strings.Contains(err.Error(), "(for a toy stage)") {
		t.Errorf("a typo of a kind's field: %v", err)
	}
}

type failingLoad struct{ spec *StageSpec }

func (s failingLoad) New(context.Context) (Transformer, error) { return passThrough{}, nil }
func (s failingLoad) Load(context.Context) error {
	if strings.Contains(s.spec.Code, "oops") {
		return s.spec.Errorf("code", "syntax error near oops")
	}
	return nil
}

// Load (what pipe lint checks) reports the load errors of every stage.
func TestLoadReportsEveryStage(t *testing.T) {
	reg := NewRegistry()
	reg.RegisterKind("syn", func(s *StageSpec, _ *BuildEnv) (Stage, error) { return failingLoad{s}, nil })
	spec, err := Parse([]byte("stages:\n  - {name: a, type: syn, code: oops}\n  - {name: b, type: syn, code: fine}\n  - {name: c, type: syn, code: oops}\n"),
		"p.yaml", WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(spec, WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	err = p.Load(context.Background())
	all := AllConfigErrors(err)
	if len(all) != 2 || all[0].Line != 2 || all[1].Line != 4 {
		t.Fatalf("Load = %v, want the errors of stages a and c", err)
	}
}
