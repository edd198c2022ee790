package refdocs_test

import (
	"strings"
	"testing"

	_ "github.com/pipe-dev/pipe/connectors/all"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/refdocs"
	_ "github.com/pipe-dev/pipe/stages/all"
)

// The committed reference pages are what the code's specs say: change a
// spec and this fails until `go generate ./docs/reference` is run.
func TestReferenceUpToDate(t *testing.T) {
	diff, err := refdocs.Diff("../../docs/reference", refdocs.Pages(engine.DefaultRegistry))
	if err != nil {
		t.Fatal(err)
	}
	if diff != "" {
		t.Fatalf("docs/reference drifted from the code; run `go generate ./docs/reference`:\n%s", diff)
	}
}

// Every registered component has a page, is in the index, and documents
// every field.
func TestReferenceCoversEveryComponent(t *testing.T) {
	reg := engine.DefaultRegistry
	pages := refdocs.Pages(reg)
	specs := reg.Specs()
	if len(specs) < len(reg.Natives())+len(reg.Kinds())+2+2+3 {
		t.Fatalf("only %d specs for %d natives and %d kinds", len(specs), len(reg.Natives()), len(reg.Kinds()))
	}
	for _, s := range specs {
		page, ok := pages[s.PageName()]
		if !ok {
			t.Errorf("%s: no page", s.ID())
			continue
		}
		if !strings.Contains(pages["README.md"], "("+s.PageName()+")") {
			t.Errorf("%s: not in the index", s.ID())
		}
		if err := s.Check(); err != nil {
			t.Error(err)
		}
		if s.Open {
			t.Errorf("%s: registered without a spec of its configuration", s.ID())
		}
		for _, f := range s.Fields {
			if !strings.Contains(page, "| `"+f.Name+"` |") {
				t.Errorf("%s: field %s not on its page", s.ID(), f.Name)
			}
		}
	}
	for _, n := range []string{"grep", "replace", "case", "select", "set", "explode", "count", "limit", "trim"} {
		if _, ok := pages["native-"+n+".md"]; !ok {
			t.Errorf("native %s has no page", n)
		}
	}
	for _, k := range []string{"native", "lua", "js", "wasm", "rpc"} {
		if _, ok := pages["kind-"+k+".md"]; !ok {
			t.Errorf("kind %s has no page", k)
		}
	}
}
