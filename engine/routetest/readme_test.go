package routetest

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// readmeRouting returns the YAML of the routing example in README.md.
func readmeRouting(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "# routing example (engine/routetest runs it)")
	if i < 0 {
		t.Fatal("README.md has no routing example")
	}
	s = s[i:]
	return s[:strings.Index(s, "```")]
}

// The README's routing example runs and does what the README says.
func TestReadmeRoutingExample(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "route.yaml", readmeRouting(t))
	p, err := engine.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	in := strings.Join([]string{
		`{"n":1,"level":"info","latency_ms":20}`,
		`{"n":2,"level":"error","latency_ms":20}`,
		`{"n":3,"level":"info","latency_ms":900}`,
		`{"n":4,"level":"info"}`,
	}, "\n") + "\n"
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	want := `{"n":1,"level":"info","latency_ms":20}` + "\n" + `{"n":3,"level":"info","latency_ms":900,"slow":true}` + "\n" + `{"n":4,"level":"info"}` + "\n"
	if got := out.String(); !sameJSONLines(t, got, want) {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	errs, _ := os.ReadFile(filepath.Join(dir, "errors.ndjson"))
	if !sameJSONLines(t, string(errs), `{"n":2,"level":"error","latency_ms":20,"alert":true}`+"\n") {
		t.Errorf("errors.ndjson: %s", errs)
	}
	arch, _ := os.ReadFile(filepath.Join(dir, "archive.ndjson"))
	if !sameJSONLines(t, string(arch), want) {
		t.Errorf("archive.ndjson: %s", arch)
	}
}

// sameJSONLines compares two NDJSON texts line by line, as JSON values
// (keys in any order).
func sameJSONLines(t *testing.T, a, b string) bool {
	t.Helper()
	sa, sb := strings.Split(strings.TrimSpace(a), "\n"), strings.Split(strings.TrimSpace(b), "\n")
	if len(sa) != len(sb) || strings.TrimSpace(a) == "" {
		return false
	}
	for i := range sa {
		if canon(t, sa[i]) != canon(t, sb[i]) {
			return false
		}
	}
	return true
}

// pipe test cases of a routed pipeline count a branch's drops once.
func TestPipeTestCountsBranchDropsOnce(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "p.yaml", `
input: {codec: ndjson}
stages:
  - name: route
    switch:
      - {lua: 'rec.n > 1', to: big}
    branches:
      - name: big
        stages: [{name: only-even, type: lua, code: 'if rec.n % 2 == 1 then return nil end return rec'}]
tests:
  - name: drops odd big ones
    input: ['{"n":1}', '{"n":2}', '{"n":3}', '{"n":4}']
    expect: ['{"n":1}', '{"n":2}', '{"n":4}']
    dropped: 1
`)
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := engine.Parse(data, file)
	if err != nil {
		t.Fatal(err)
	}
	cases, err := sp.TestCases()
	if err != nil || len(cases) != 1 {
		t.Fatalf("cases %v, %v", cases, err)
	}
	res, err := engine.RunTest(context.Background(), sp, cases[0])
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed {
		t.Errorf("%s: %s", res.Case, res.Problem)
	}
}
