// Package routetest tests switch and fanout steps with real stage kinds
// (native, lua, js, wasm), which package engine's own tests cannot import.
package routetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
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

// records returns n NDJSON records {"n":I,"level":L}; every fifth is an error.
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

type rec struct {
	N      int    `json:"n"`
	UN     int    `json:"N"` // after the wasm upper-caser
	Level  string `json:"level"`
	Routed string `json:"routed"`
}

func decode(t *testing.T, name, text string) []rec {
	t.Helper()
	var out []rec
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		var r rec
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("%s: %q: %v", name, sc.Text(), err)
		}
		out = append(out, r)
	}
	return out
}

func statsByName(p *engine.Pipeline) map[string]engine.StageStats {
	m := map[string]engine.StageStats{}
	for _, st := range p.Stats() {
		m[st.Name] = st
	}
	return m
}

// Three branches of three kinds (native, lua, wasm) behind a switch whose
// cases are select, lua and js conditions; two branches end at named
// outputs, one merges back with the unmatched records. Every stage runs
// four workers: each branch keeps the input order, and the merged output
// keeps it across the branch and the unmatched records.
func TestSwitchThreeKindsKeepsOrder(t *testing.T) {
	if _, err := os.Stat(upperWasm); err != nil {
		t.Fatalf("wasm fixture missing (run make fixtures): %v", err)
	}
	dir := t.TempDir()
	file := writeFile(t, dir, "p.yaml", `
input: {codec: ndjson}
outputs:
  errors: {type: file, path: errors.ndjson}
  shouted: {type: file, path: shouted.ndjson}
defaults: {workers: 4}
stages:
  - name: route
    switch:
      - select: {field: level, equals: error}
        to: errs
      - lua: 'rec.n % 3 == 0'
        to: triple
      - js: 'rec.n % 3 === 1'
        to: shout
    branches:
      - name: errs
        stages: [{name: tag-err, type: native, use: set, config: {fields: {routed: err}}}]
        to: errors
      - name: triple
        stages: [{name: tag-lua, type: lua, code: 'rec.routed = "lua"; return rec'}]
      - name: shout
        stages: [{name: up, type: wasm, path: `+upperWasm+`}]
        to: shouted
`)
	var errs, shouted bytes.Buffer
	p, err := engine.Load(file, engine.WithOutput("errors", &errs), engine.WithOutput("shouted", &shouted))
	if err != nil {
		t.Fatal(err)
	}
	const n = 30000
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader(records(n)), &out); err != nil {
		t.Fatal(err)
	}
	var wantMain, wantErr, wantShout []int
	triple := 0
	for i := 1; i <= n; i++ {
		switch {
		case i%5 == 0:
			wantErr = append(wantErr, i)
		case i%3 == 1:
			wantShout = append(wantShout, i)
		default: // lua's (i%3 == 0) and the unmatched (i%3 == 2) merge
			wantMain = append(wantMain, i)
			if i%3 == 0 {
				triple++
			}
		}
	}
	check := func(name string, got []rec, want []int, num func(rec) int, routed func(rec) string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d records, want %d", name, len(got), len(want))
		}
		for i, r := range got {
			if num(r) != want[i] {
				t.Fatalf("%s: record %d is n=%d, want n=%d (order lost)", name, i, num(r), want[i])
			}
			if w := routed(r); w != "" && r.Routed != w {
				t.Fatalf("%s: record n=%d routed=%q, want %q", name, num(r), r.Routed, w)
			}
		}
	}
	n1 := func(r rec) int { return r.N }
	check("output", decode(t, "output", out.String()), wantMain, n1, func(r rec) string {
		if r.N%3 == 0 {
			return "lua"
		}
		if r.Routed != "" {
			return "none"
		}
		return ""
	})
	check("errors", decode(t, "errors", errs.String()), wantErr, n1, func(rec) string { return "err" })
	check("shouted", decode(t, "shouted", shouted.String()), wantShout, func(r rec) int { return r.UN }, func(rec) string { return "" })

	st := statsByName(p)
	for name, want := range map[string]int{"route.errs": len(wantErr), "route.triple": triple, "route.shout": len(wantShout)} {
		b, ok := st[name]
		if !ok {
			t.Fatalf("no stats for branch %s: %v", name, p.Stats())
		}
		if b.Kind != "branch" || b.In != int64(want) || b.In != b.Out+b.Dropped+b.Errors {
			t.Errorf("branch %s: %+v; want in=%d = out + dropped + errors", name, b, want)
		}
	}
	if st["route"].In != n || st["route"].Out != n {
		t.Errorf("switch stats %+v, want %d in and out", st["route"], n)
	}
	if st["output.errors"].Out != int64(len(wantErr)) || st["output.shouted"].Out != int64(len(wantShout)) || st["output"].Out != int64(len(wantMain)) {
		t.Errorf("output stats: %+v %+v %+v", st["output.errors"], st["output.shouted"], st["output"])
	}
}

// A branch whose stage drops and fails records keeps in = out + dropped +
// errors; default: drop drops what no case matches, counted by the switch.
func TestBranchAccounting(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "p.yaml", `
input: {codec: ndjson}
dead_letter: {path: dl.ndjson}
stages:
  - name: route
    default: drop
    switch:
      - {lua: 'rec.n % 2 == 0', to: even}
    branches:
      - name: even
        stages:
          - name: picky
            type: lua
            workers: 4
            on_error: dead_letter
            code: |
              if rec.n % 4 == 0 then return nil end
              if rec.n % 6 == 0 then error("no sixes") end
              return rec
`)
	p, err := engine.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1200
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader(records(n)), &out); err != nil {
		t.Fatal(err)
	}
	st := statsByName(p)
	b := st["route.even"]
	var dropped, failed int64
	for i := 2; i <= n; i += 2 {
		switch {
		case i%4 == 0:
			dropped++
		case i%6 == 0:
			failed++
		}
	}
	if b.In != n/2 || b.Dropped != dropped || b.Errors != failed || b.DeadLettered != failed || b.Out != b.In-dropped-failed {
		t.Errorf("branch even: %+v; want in %d, dropped %d, errors %d", b, n/2, dropped, failed)
	}
	if got := int64(strings.Count(out.String(), "\n")); got != b.Out {
		t.Errorf("output has %d records, branch says %d", got, b.Out)
	}
	if sw := st["route"]; sw.Dropped != n/2 || sw.In != sw.Out+sw.Dropped+sw.Errors {
		t.Errorf("switch: %+v; want the %d odd records dropped", sw, n/2)
	}
}

// failingWriter fails every write after the first ok bytes.
type failingWriter struct {
	mu sync.Mutex
	ok int
	w  bytes.Buffer
}

var errDiskFull = errors.New("disk full")

func (f *failingWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.w.Len()+len(p) > f.ok {
		return 0, errDiskFull
	}
	return f.w.Write(p)
}

// A fanout copies every record to the main output and to an archive that
// fails after a while, under each policy.
func TestFanoutFailingOutput(t *testing.T) {
	for _, policy := range []string{"block", "drop", "dead_letter"} {
		t.Run(policy, func(t *testing.T) {
			dir := t.TempDir()
			file := writeFile(t, dir, "p.yaml", `
input: {codec: ndjson}
outputs:
  archive: {type: file, path: archive.ndjson}
dead_letter: {path: dl.ndjson}
stages:
  - {name: tag, type: native, use: set, config: {fields: {seen: true}}, workers: 4}
  - name: copies
    fanout:
      - {to: output}
      - {to: archive, policy: `+policy+`}
`)
			fw := &failingWriter{ok: 50 << 10}
			p, err := engine.Load(file, engine.WithOutput("archive", fw))
			if err != nil {
				t.Fatal(err)
			}
			const n = 20000
			var out bytes.Buffer
			err = p.RunReader(context.Background(), strings.NewReader(records(n)), &out)
			st := statsByName(p)
			arch := st["output.archive"]
			if policy == "block" {
				var se *engine.StageError
				if !errors.As(err, &se) || se.Stage != "output.archive" || !errors.Is(err, errDiskFull) {
					t.Fatalf("run error %v; want a StageError of output.archive wrapping %v", err, errDiskFull)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Count(out.String(), "\n"); got != n {
				t.Errorf("main output has %d records, want all %d", got, n)
			}
			if arch.In != n || arch.In != arch.Out+arch.Dropped+arch.Errors || arch.Out == 0 || arch.Out == n {
				t.Errorf("archive stats %+v; want in %d = out + dropped + errors, some written, some not", arch, n)
			}
			if int64(strings.Count(fw.w.String(), "\n")) > arch.Out {
				t.Errorf("archive holds %d lines, more than the %d counted out", strings.Count(fw.w.String(), "\n"), arch.Out)
			}
			dl, _ := os.ReadFile(filepath.Join(dir, "dl.ndjson"))
			lines := int64(strings.Count(string(dl), "\n"))
			switch policy {
			case "drop":
				if arch.Dropped != n-arch.Out || lines != 0 {
					t.Errorf("drop: %+v, %d dead letters", arch, lines)
				}
			case "dead_letter":
				if arch.Errors != n-arch.Out || arch.DeadLettered != arch.Errors || lines != arch.Errors {
					t.Errorf("dead_letter: %+v, %d dead letters", arch, lines)
				}
				if !strings.Contains(string(dl), `"stage":"output.archive"`) || !strings.Contains(string(dl), "disk full") {
					t.Errorf("dead letters do not name the output and the cause: %.300s", dl)
				}
			}
		})
	}
}

// blockingWriter blocks every write until release is closed.
type blockingWriter struct {
	release chan struct{}
	w       bytes.Buffer
}

func (b *blockingWriter) Write(p []byte) (int, error) {
	<-b.release
	return b.w.Write(p)
}

// A slow output under policy drop loses its copies while its queue is
// full; the main output gets every record, and the archive's counts add up.
func TestFanoutSlowOutputDrops(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "p.yaml", `
outputs:
  archive: {type: file, path: archive.txt}
stages:
  - name: copies
    fanout:
      - {to: output}
      - {to: archive, policy: drop}
`)
	bw := &blockingWriter{release: make(chan struct{})}
	p, err := engine.Load(file, engine.WithOutput("archive", bw))
	if err != nil {
		t.Fatal(err)
	}
	const n = 50000
	i, seen := 0, 0
	err = p.Stream(context.Background(), func(context.Context) (*engine.Record, error) {
		if i == n {
			return nil, io.EOF
		}
		i++
		return engine.NewRecord(fmt.Appendf(nil, "line %d", i)), nil
	}, func(*engine.Record) error {
		if seen++; seen == n { // the main output has it all: let the archive go
			close(bw.release)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	arch := statsByName(p)["output.archive"]
	if seen != n || arch.In != n || arch.Dropped == 0 || arch.Out+arch.Dropped != n {
		t.Errorf("main saw %d; archive %+v: want %d in, some dropped, out + dropped = in", seen, arch, n)
	}
	if got := int64(strings.Count(bw.w.String(), "\n")); got != arch.Out {
		t.Errorf("archive holds %d lines, counted %d out", got, arch.Out)
	}
}

func canon(t *testing.T, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// A select: condition can test metadata (meta:), on records that are not
// JSON; numbers in metadata compare as numbers.
func TestSwitchOnMetadata(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, dir, "p.yaml", `
stages:
  - name: route
    default: drop
    switch:
      - {select: {meta: source, equals: edge}, to: edge}
      - {select: {meta: status, gte: 500}, to: failed}
    branches:
      - name: edge
        stages: [{name: mark-edge, type: lua, code: 'return "edge:" .. rec'}]
      - name: failed
        stages: [{name: mark-failed, type: js, code: 'return "failed:" + rec'}]
`)
	p, err := engine.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(data string, kv ...string) *engine.Record {
		r := engine.NewRecord([]byte(data))
		for i := 0; i+1 < len(kv); i += 2 {
			r.Set(kv[i], kv[i+1])
		}
		return r
	}
	out, err := p.Process(context.Background(),
		mk("a", "source", "edge"), mk("b", "source", "core", "status", "200"),
		mk("c", "status", "503"), mk("d"), mk("e", "source", "edge", "status", "500"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range out {
		got = append(got, string(r.Data))
		if _, ok := r.Meta["\x00pipe.branch"]; ok {
			t.Errorf("record %q still carries the branch mark", r.Data)
		}
	}
	if strings.Join(got, ",") != "edge:a,failed:c,edge:e" {
		t.Errorf("got %v", got)
	}
}
