package cli

import (
	"reflect"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

func TestFilterSpecArgsAndConfig(t *testing.T) {
	f := &runFlags{stages: []filterStage{
		{kind: "rpc", flag: "rpc", arg: "./plug", args: []string{"--fast", "x"}, config: []string{"n=3", "{a: [1, 2]}"}},
		{kind: "native", flag: "native", arg: "case", config: []string{"to=upper", "s=a: b"}},
		{kind: "native", flag: "native", arg: "dir/x.so"},
	}}
	// A registry whose "rpc" kind takes a path and --arg, as stages/rpc's does.
	reg := engine.DefaultRegistry.Clone()
	reg.RegisterKindSpec(engine.KindSpec{Name: "rpc", Build: func(*engine.StageSpec, *engine.BuildEnv) (engine.Stage, error) { return nil, nil },
		Flag: &engine.FilterFlag{Value: "PATH", Set: func(s *engine.StageSpec, v string) { s.Path = v }, Args: "args"}})
	spec, err := filterSpec(reg, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Stages) != 3 || spec.Stages[0].Name != "rpc-1" || spec.Stages[0].Path != "./plug" ||
		spec.Stages[1].Use != "case" || spec.Stages[2].Path != "dir/x.so" {
		t.Fatalf("stages = %+v", spec.Stages)
	}
	var extra struct {
		Args []string `yaml:"args"`
	}
	if err := spec.Stages[0].Extra.Decode(&extra); err != nil || !reflect.DeepEqual(extra.Args, []string{"--fast", "x"}) {
		t.Errorf("args = %v, %v", extra.Args, err)
	}
	cfg, _ := spec.Stages[0].Config.Value()
	if want := map[string]any{"n": 3, "a": []any{1, 2}}; !reflect.DeepEqual(cfg, want) {
		t.Errorf("config = %#v, want %#v", cfg, want)
	}
	cfg, _ = spec.Stages[1].Config.Value()
	if want := map[string]any{"to": "upper", "s": "a: b"}; !reflect.DeepEqual(cfg, want) {
		t.Errorf("config = %#v, want %#v", cfg, want)
	}
}
