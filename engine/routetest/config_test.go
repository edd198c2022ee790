package routetest

import (
	"errors"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// Mistakes in switch and fanout steps are config errors at FILE:LINE:COL.
func TestRouteConfigErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       string // FILE:LINE:COL: message (a substring of it)
	}{
		{"unknown branch", `
stages:
  - name: route
    switch:
      - {lua: 'true', to: nope}
    branches:
      - {name: a, stages: []}
      - {name: b, stages: [], to: output}
    default: a
`, `p.yaml:5:27: unknown branch "nope" (want one of: a, b)`},
		{"case without condition", `
stages:
  - name: route
    switch:
      - to: a
    branches:
      - {name: a}
`, `p.yaml:5:9: case 1 of switch "route" has no condition (want select:, lua: or js:)`},
		{"case with two conditions", `
stages:
  - name: route
    switch:
      - {lua: 'true', js: 'true', to: a}
    branches:
      - {name: a}
`, `p.yaml:5:27: case 1 of switch "route" has 2 conditions`},
		{"unknown output", `
stages:
  - name: route
    switch:
      - {lua: 'true', to: a}
    branches:
      - {name: a, to: archive}
`, `p.yaml:7:23: unknown output "archive" (want one of: output)`},
		{"fanout not last", `
outputs:
  x: {type: file, path: x.txt}
stages:
  - name: copy
    fanout: [{to: x}, {to: output}]
  - {name: later, type: native, use: trim}
`, `p.yaml:6:13: a fanout must be the last step of its chain (step "later" follows it)`},
		{"switch with a type", `
stages:
  - name: route
    type: lua
    switch:
      - {lua: 'true', to: a}
    branches:
      - {name: a}
`, `p.yaml:4:11: a switch step takes no type:`},
		{"bad policy", `
outputs:
  x: {type: file, path: x.txt}
stages:
  - name: copy
    fanout: [{to: x, policy: retry}]
`, `p.yaml:6:30: policy must be block, drop or dead_letter, got "retry"`},
		{"unused branch", `
stages:
  - name: route
    switch:
      - {lua: 'true', to: a}
    branches:
      - {name: a}
      - {name: b}
`, `p.yaml:8:16: branch "b" is not used by any case nor by default:`},
		{"unused output", `
outputs:
  x: {type: file, path: x.txt}
stages: []
`, `p.yaml:3:6: output "x" is not used`},
		{"lua syntax in a case", `
stages:
  - name: route
    switch:
      - {lua: 'rec.n ==', to: a}
    branches:
      - {name: a}
`, `p.yaml:5:9:`},
		{"select config typo", `
input: {codec: ndjson}
stages:
  - name: route
    switch:
      - {select: {field: level, equal: error}, to: a}
    branches:
      - {name: a}
`, `p.yaml:6:33: unknown field "equal" (did you mean "equals"?)`},
		{"unknown field in a branch stage", `
stages:
  - name: route
    switch:
      - {lua: 'true', to: a}
    branches:
      - name: a
        stages: [{name: t, type: native, use: grep, config: {patern: x}}]
`, `p.yaml:8:62: unknown field "patern"`},
		{"duplicate stage name across branches", `
stages:
  - {name: t, type: native, use: trim}
  - name: route
    switch:
      - {lua: 'true', to: a}
    branches:
      - name: a
        stages: [{name: t, type: native, use: trim}]
`, `p.yaml:9:25: duplicate stage name "t"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := writeFile(t, dir, "p.yaml", tc.yaml)
			p, err := engine.Load(file)
			if err == nil {
				err = p.Load(t.Context())
			}
			var ce *engine.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v (%T); want a *ConfigError", err, err)
			}
			got := strings.ReplaceAll(err.Error(), dir+"/", "")
			if !strings.Contains(got, tc.want) {
				t.Errorf("error:\n%s\nwant it to contain:\n%s", got, tc.want)
			}
		})
	}
}

// The dry-run plan shows each switch with its cases and its branches'
// stages nested, and the named outputs with their policies.
func TestPlanShowsBranches(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "p.yaml", `
input: {codec: ndjson}
outputs:
  errors: {type: file, path: errors.ndjson}
  archive: {type: file, path: archive.ndjson}
stages:
  - name: route
    switch:
      - {select: {field: level, equals: error}, to: errs}
    branches:
      - name: errs
        stages: [{name: tag, type: native, use: set, config: {fields: {routed: err}}, workers: 2}]
        to: errors
  - name: copies
    fanout: [{to: output}, {to: archive, policy: drop}]
`)
	p, err := engine.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	y, err := p.Plan().YAML()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(string(y), dir+"/", "")
	for _, want := range []string{
		"outputs:\n  errors:",
		"path: archive.ndjson",
		"- name: route\n    switch: [{select: {equals: error, field: level}, to: errs}]\n    default: continue\n    branches:\n      - name: errs\n        to: errors\n        stages:\n          - name: tag\n            type: native\n            use: set",
		"workers: 2",
		"- name: copies\n    fanout: [{to: output, policy: block}, {to: archive, policy: drop}]",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plan lacks\n%s\nin\n%s", want, got)
		}
	}
	pl := p.Plan()
	if pl.Stages[1].Branch != "route.errs" || pl.Outputs[1].Name != "archive" || pl.Outputs[1].Policy != "drop" {
		t.Errorf("plan stages %+v outputs %+v", pl.Stages, pl.Outputs)
	}
}
