package all_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// Every kind compiled in describes itself: a summary, its own fields, its
// filter-mode flag (code or a path), and the files its stages depend on.
func TestKindsDescribeThemselves(t *testing.T) {
	reg := engine.DefaultRegistry
	flags := map[string]string{"native": "NAME|PATH", "lua": "CODE", "js": "CODE", "wasm": "PATH", "rpc": "PATH"}
	for name, value := range flags {
		k, ok := reg.KindSpec(name)
		if !ok {
			t.Errorf("kind %s is not registered", name)
			continue
		}
		if k.Summary == "" || k.Options == nil || k.Spec().Open {
			t.Errorf("kind %s has no summary or no spec of its fields", name)
		}
		if k.Flag == nil || k.Flag.Value != value || k.Flag.Set == nil || k.Flag.Usage == "" {
			t.Errorf("kind %s: filter flag %+v, want one taking %s", name, k.Flag, value)
		}
	}
	if k, _ := reg.KindSpec("rpc"); k.Flag == nil || k.Flag.Args != "args" {
		t.Error("rpc's --arg does not fill args:")
	}
	if k, _ := reg.KindSpec("native"); k.Live == nil {
		t.Error("the native kind does not say that a .so cannot change live")
	}

	spec, err := engine.Parse([]byte(`input: {codec: ndjson}
stages:
  - {name: l, type: lua, path: s.lua, modules: [lua_lib]}
  - {name: j, type: js, code: 'return rec', modules: [js_lib]}
  - {name: w, type: wasm, path: m.wasm}
  - {name: r, type: rpc, path: bin/plug}
  - {name: n, type: native, use: trim}
`), "/p/pipe.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	got := p.Files()
	for _, f := range []string{"/p/pipe.yaml", "/p/s.lua", "/p/lua_lib", "/p/js_lib", "/p/m.wasm", "/p/bin/plug"} {
		if !slices.Contains(got, filepath.FromSlash(f)) {
			t.Errorf("Files() = %v, lacks %s", got, f)
		}
	}
	if len(got) != 6 {
		t.Errorf("Files() = %v, want 6 files", got)
	}
}
