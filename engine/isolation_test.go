package engine

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestIsolationNeedsAnIsolator: isolation: process is a positioned
// configuration error in a build without an isolator, and for rpc stages
// (already a process) in any build; the isolator gets the stage its kind
// built, and --dry-run shows the setting.
func TestIsolationNeedsAnIsolator(t *testing.T) {
	const y = "stages:\n  - {name: a, type: native, use: up, isolation: process}\n"
	spec, err := Parse([]byte(y), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry()
	reg.Register("up", func(Config) (Transformer, error) { return upper, nil })
	_, err = Build(spec, WithRegistry(reg))
	if err == nil || !strings.Contains(err.Error(), "p.yaml:2:") || !strings.Contains(err.Error(), "stages/isolate") {
		t.Fatalf("err = %v; want a positioned error naming the isolate package", err)
	}

	var got Stage
	reg.SetIsolator(func(s *StageSpec, env *BuildEnv, inner Stage) (Stage, error) {
		got = inner
		return inner, nil
	})
	spec, _ = Parse([]byte(y), "p.yaml")
	p, err := Build(spec, WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got.(*nativeStage); !ok {
		t.Errorf("isolator got %T, want the native stage its kind built", got)
	}
	if pl := p.Plan(); pl.Stages[0].Isolation != IsolationProcess {
		t.Errorf("plan isolation %q", pl.Stages[0].Isolation)
	}
	out, err := p.Plan().YAML()
	if err != nil || !strings.Contains(string(out), "isolation: process") {
		t.Errorf("dry-run YAML lacks isolation: process (%v):\n%s", err, out)
	}

	reg.RegisterKind("rpc", func(*StageSpec, *BuildEnv) (Stage, error) { return goStage{}, nil })
	spec, _ = Parse([]byte("stages:\n  - {name: a, type: rpc, path: x, isolation: process}\n"), "p.yaml")
	if _, err := Build(spec, WithRegistry(reg)); err == nil || !strings.Contains(err.Error(), "already runs in its own process") {
		t.Errorf("rpc with isolation: err = %v", err)
	}
	if _, err := Parse([]byte("stages:\n  - {name: a, type: native, use: up, isolation: sideways}\n"), "p.yaml"); err == nil || !strings.Contains(err.Error(), "in_process") {
		t.Errorf("unknown isolation: err = %v; want the enum named", err)
	}
}

// TestDescribeRoundTrip: what a child rebuilds from a StageDescriptor is
// the stage as written: name, kind, config (integers exact), kind fields,
// timeout and paths resolved against the same pipeline file.
func TestDescribeRoundTrip(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "p.yaml")
	spec, err := Parse([]byte("stages:\n  - {name: a, type: k, path: s.x, timeout: 3s, config: {n: 9007199254740993, s: x}, extra: 7}\n"), file)
	if err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry()
	type fields struct {
		Extra int `yaml:"extra"`
	}
	var seen []string
	reg.RegisterKindSpec(KindSpec{Name: "k", Options: fields{}, Build: func(s *StageSpec, env *BuildEnv) (Stage, error) {
		var f fields
		if err := s.Extra.Decode(&f); err != nil {
			return nil, err
		}
		cfg, _ := s.Config.JSON()
		seen = append(seen, strings.Join([]string{s.Name, s.Resolve(s.Path), string(cfg), env.Codec, env.Timeout.String(), s.Timeout.String()}, " ")+" "+
			strings.Repeat("x", f.Extra))
		return goStage{}, nil
	}})
	if _, err := Build(spec, WithRegistry(reg)); err != nil {
		t.Fatal(err)
	}
	env := &BuildEnv{Codec: CodecNDJSON, Timeout: 3e9}
	d := spec.Stages[0].Describe(env)
	if _, err := reg.BuildDescribed(d, nil); err != nil {
		t.Fatal(err)
	}
	want := "a " + filepath.Join(dir, "s.x") + ` {"n":9007199254740993,"s":"x"} ndjson 3s 3s xxxxxxx`
	if len(seen) != 2 || seen[1] != want {
		t.Errorf("rebuilt %q; want %q", seen, want)
	}
	if _, err := reg.BuildDescribed(StageDescriptor{Type: "nope"}, nil); err == nil {
		t.Error("an unknown kind was built")
	}
}
