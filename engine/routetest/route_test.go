// Package routetest tests switch and fanout steps with real stage kinds
// (native, lua, js, wasm), which package engine's own tests cannot import.
package routetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	_ "github.com/pipe-dev/pipe/stages/all"
)

// upperWasm is built by make fixtures (stages/wasm).
var upperWasm, _ = filepath.Abs("../../stages/wasm/testdata/bin/upper.wasm")

func writeFile(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func records(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		level := "info"
		if i%5 == 0 {
			level = "error"
		}
		fmt.Fprintf(&b, "{\"n\":%d,\"level\":%q}\n", i, level)
	}
	return b.String()
}

func TestSwitchThreeKinds(t *testing.T) {
	if _, err := os.Stat(upperWasm); err != nil {
		t.Fatalf("wasm fixture missing (run make fixtures): %v", err)
	}
	dir := t.TempDir()
	file := writeFile(t, dir, "p.yaml", `
input: {codec: ndjson}
outputs:
  errors: {type: file, path: errors.ndjson}
  shouted: {type: file, path: shouted.ndjson}
stages:
  - name: route
    workers: 4
    switch:
      - select: {field: level, equals: error}
        to: errs
      - lua: 'rec.n % 3 == 0'
        to: triple
      - js: 'rec.n % 3 === 1'
        to: shout
    branches:
      - name: errs
        stages: [{name: tag-err, type: native, use: set, config: {fields: {routed: err}}, workers: 4}]
        to: errors
      - name: triple
        stages: [{name: tag-lua, type: lua, code: 'rec.routed = "lua"; return rec', workers: 4}]
      - name: shout
        stages: [{name: up, type: wasm, path: `+upperWasm+`, workers: 4}]
        to: shouted
`)
	var errs, shouted bytes.Buffer
	p, err := engine.Load(file, engine.WithOutput("errors", &errs), engine.WithOutput("shouted", &shouted))
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader(records(n)), &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("main %d errors %d shouted %d", strings.Count(out.String(), "\n"), strings.Count(errs.String(), "\n"), strings.Count(shouted.String(), "\n"))
	for _, st := range p.Stats() {
		t.Logf("%+v", st)
	}
	_ = json.Valid
}
