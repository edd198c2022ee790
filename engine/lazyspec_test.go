package engine

import (
	"slices"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/stage"
)

// Every component the registry lists comes back under the class and name
// it was registered with, built once: the lazy specs of the built-in
// codecs, steps and connectors match their keys.
func TestLazySpecsMatchTheirNames(t *testing.T) {
	reg := NewRegistry()
	for _, class := range []component.Class{component.ClassInput, component.ClassOutput, component.ClassCodec, component.ClassStep} {
		reg.mu.RLock()
		fns := reg.components[class]
		reg.mu.RUnlock()
		if len(fns) == 0 {
			t.Fatalf("no %s registered", class)
		}
		for name, fn := range fns {
			s := fn()
			if s.Class != class || s.Name != name {
				t.Errorf("%s %q: spec says %s %q", class, name, s.Class, s.Name)
			}
			if err := s.Check(); err != nil {
				t.Error(err)
			}
		}
	}
	for _, c := range []string{CodecLines, CodecNDJSON, CodecRaw, CodecCSV, CodecLogfmt} {
		if got := reg.Lookup("codec/" + c); len(got) != 1 || got[0].Name != c {
			t.Errorf("Lookup(codec/%s) = %v", c, got)
		}
	}
}

// A connector's spec is reflected when it is first asked for, not when it
// is registered; an unknown type's error still names every registered
// type without building a spec.
func TestConnectorSpecOnFirstUse(t *testing.T) {
	reg := NewRegistry()
	built := 0
	type cfg struct {
		Path string `yaml:"path" doc:"Where."`
	}
	reg.RegisterInput(connector.InputType{Name: "lazy", Summary: "a test input", Config: cfg{},
		New: func(stage.Config, connector.Env) (connector.Input, error) { return nil, nil }})
	reg.mu.RLock()
	fn := reg.components[component.ClassInput]["lazy"]
	reg.mu.RUnlock()
	reg.mu.Lock()
	reg.components[component.ClassInput]["lazy"] = func() component.Spec { built++; return fn() }
	reg.mu.Unlock()
	if names := reg.connectorNames(component.ClassInput); !slices.Contains(strings.Split(names, ", "), "lazy") || built != 0 {
		t.Fatalf("connectorNames = %q, %d specs built", names, built)
	}
	got := reg.Lookup("input/lazy")
	if len(got) != 1 || built != 1 {
		t.Fatalf("Lookup(input/lazy) = %v, %d built", got, built)
	}
	if _, ok := got[0].Lookup("path"); !ok {
		t.Errorf("spec of input/lazy has no path field: %+v", got[0].Fields)
	}
	if _, ok := got[0].Lookup("codec"); !ok {
		t.Errorf("spec of input/lazy lacks the common codec field: %+v", got[0].Fields)
	}
}
