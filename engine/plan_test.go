package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func mustPipeline(t *testing.T, yaml string, opts ...Option) *Pipeline {
	t.Helper()
	spec, err := Parse([]byte(yaml), filepath.Join(t.TempDir(), "p.yaml"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(spec, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// withUpper registers a native "up" stage in a registry of its own.
func withUpper() Option {
	reg := NewRegistry()
	reg.Register("up", func(Config) (Transformer, error) { return upper, nil })
	return WithRegistry(reg)
}

// The bug of issue 14: --dry-run printed the input limit as 1MiB while the
// run enforced defaults.max_record_bytes. The plan is the one place both
// read.
func TestPlanInputLimitFromDefaults(t *testing.T) {
	p := mustPipeline(t, `
defaults: {max_record_bytes: 10}
stages: [{name: up, type: native, use: up}]
`, withUpper())
	pl := p.Plan()
	if pl.Input.MaxRecordBytes != 10 || pl.Stages[0].MaxRecordBytes != 10 {
		t.Fatalf("plan limits: input %s, stage %s; want 10 and 10", pl.Input.MaxRecordBytes, pl.Stages[0].MaxRecordBytes)
	}
	out, err := pl.YAML()
	if err != nil {
		t.Fatal(err)
	}
	input, _, _ := strings.Cut(string(out), "output:")
	if !strings.Contains(input, "max_record_bytes: 10\n") {
		t.Errorf("printed plan's input does not say max_record_bytes: 10:\n%s", out)
	}
	// What the run enforces is what was printed.
	err = p.RunReader(context.Background(), strings.NewReader("short\n"+strings.Repeat("x", 28)+"\n"), io.Discard)
	var se *StageError
	if !errors.As(err, &se) || se.Stage != "input" || se.Record != 2 || !errors.Is(err, ErrRecordTooLarge) ||
		!strings.Contains(err.Error(), "max_record_bytes is 10") {
		t.Fatalf("run: %v; want the input to reject record 2 as larger than 10 bytes", err)
	}
}

func TestPlanDefaults(t *testing.T) {
	p := mustPipeline(t, `
input: {type: file, path: 'in/*.log', codec: ndjson, max_record_bytes: 2KiB}
output: {type: file, path: out.ndjson}
dead_letter: {path: dl.ndjson}
defaults: {timeout: 250ms, on_error: drop, workers: 3}
stages:
  - {name: a, type: native, use: up}
  - {name: b, type: native, use: up, timeout: 0, on_error: dead_letter, workers: 1, max_record_bytes: 100}
`, withUpper())
	pl := p.Plan()
	dir := filepath.Dir(p.Spec().File)
	want := Plan{
		Input: InputPlan{Type: "file", Path: filepath.Join(dir, "in/*.log"), Codec: CodecNDJSON, MaxRecordBytes: 2048, OnError: OnErrorDrop},
		Output: OutputPlan{Type: "file", Path: filepath.Join(dir, "out.ndjson"), Codec: CodecNDJSON, OnError: OnErrorDrop,
			Validate: true},
		DeadLetter: filepath.Join(dir, "dl.ndjson"),
		Batch:      BatchPlan{Records: DefaultBatchRecords, Bytes: DefaultBatchBytes, QueueDepth: queueDepth},
		Stages: []StagePlan{
			{Name: "a", Kind: "native", Use: "up", Codec: CodecNDJSON, Timeout: 250 * time.Millisecond, OnError: OnErrorDrop,
				Workers: 3, MaxRecordBytes: DefaultMaxRecordBytes, Isolation: IsolationInProcess},
			{Name: "b", Kind: "native", Use: "up", Codec: CodecNDJSON, Timeout: 0, OnError: OnErrorDeadLetter,
				Workers: 1, MaxRecordBytes: 100, Isolation: IsolationInProcess},
		},
	}
	if !pl.Equal(want) {
		t.Fatalf("plan\n%+v\nwant\n%+v", pl, want)
	}
}

func TestPlanDiff(t *testing.T) {
	base := `
input: {codec: ndjson}
defaults: {max_record_bytes: 1KiB}
stages:
  - {name: a, type: native, use: up, config: {x: 1, y: 2}}
`
	cases := []struct {
		name, yaml string
		want       []string // Change.String() of each change; restart-only ones marked !
	}{
		{"same", base, nil},
		{"same config, other order", strings.Replace(base, "{x: 1, y: 2}", "{y: 2, x: 1}", 1), nil},
		{"default limit", strings.Replace(base, "1KiB", "10", 1),
			[]string{"input.max_record_bytes: 1KiB → 10", "stages.a.max_record_bytes: 1KiB → 10"}},
		{"codec", strings.Replace(base, "ndjson", "lines", 1),
			[]string{"!input.codec: ndjson → lines", "!output.codec: ndjson → lines", "output.validate: true → false", "stages.a.codec: ndjson → lines"}},
		{"stage config", strings.Replace(base, "x: 1", "x: 3", 1), []string{`stages.a.config: {"x":1,"y":2} → {"x":3,"y":2}`}},
		{"stage added", base + "  - {name: b, type: native, use: up}\n", []string{"stages: a → a, b"}},
		{"output file", "output: {type: file, path: o.txt}\n" + base,
			[]string{"!output.type: stdout → file", "!output.path: (none) → " + "DIR/o.txt"}},
	}
	dir := t.TempDir()
	build := func(yaml string) Plan {
		spec, err := Parse([]byte(yaml), filepath.Join(dir, "p.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		p, err := Build(spec, withUpper())
		if err != nil {
			t.Fatal(err)
		}
		return p.Plan()
	}
	old := build(base)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			next := build(c.yaml)
			var got []string
			for _, ch := range old.Diff(next) {
				s := strings.ReplaceAll(ch.String(), dir, "DIR")
				if ch.Restart {
					s = "!" + s
				}
				got = append(got, s)
			}
			if fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Errorf("diff\n%q\nwant\n%q", got, c.want)
			}
			if old.Equal(next) != (len(c.want) == 0) {
				t.Errorf("Equal = %v with changes %q", old.Equal(next), got)
			}
		})
	}
}

// liveRun runs p with RunLive over a pipe; send reloads it.
type liveRun struct {
	pw      *io.PipeWriter
	out     *bytes.Buffer
	done    chan error
	reloads chan Reload
}

func startLive(t *testing.T, p *Pipeline) *liveRun {
	pr, pw := io.Pipe()
	l := &liveRun{pw: pw, out: &bytes.Buffer{}, done: make(chan error, 1), reloads: make(chan Reload)}
	go func() { l.done <- p.RunLive(context.Background(), pr, l.out, l.reloads) }()
	return l
}

func (l *liveRun) reload(next *Pipeline) error {
	res := make(chan error, 1)
	l.reloads <- Reload{Next: next, Done: res}
	return <-res
}

// The second bug of issue 14: a reload that changed a default logged
// "reloaded" while the input kept its old limit. Now the input takes it
// for the records it reads after the reload.
func TestReloadAppliesDefaultLimitToInput(t *testing.T) {
	p := mustPipeline(t, `stages: [{name: up, type: native, use: up}]`, withUpper())
	l := startLive(t, p)
	long := strings.Repeat("x", 28)
	fmt.Fprintln(l.pw, "first") // before the reload
	// The stage keeps its limit.
	next := mustPipeline(t, "defaults: {max_record_bytes: 10}\nstages: [{name: up, type: native, use: up, max_record_bytes: 1MiB}]", withUpper())
	if err := l.reload(next); err != nil {
		t.Fatalf("reload: %v", err)
	}
	fmt.Fprintln(l.pw, "short")
	fmt.Fprintln(l.pw, long) // read after the reload: too large for the input now
	l.pw.Close()
	err := <-l.done
	var se *StageError
	if !errors.As(err, &se) || se.Stage != "input" || se.Record != 3 || !errors.Is(err, ErrRecordTooLarge) {
		t.Fatalf("run: %v; want the input to reject record 3 (max_record_bytes 10)", err)
	}
	if want := "FIRST\nSHORT\n"; l.out.String() != want {
		t.Errorf("output %q, want %q (run: %v)", l.out.String(), want, err)
	}
}

// A reload that changes what a run cannot change is refused whole, naming
// each setting, and the running pipeline goes on unchanged.
func TestReloadRefusesByName(t *testing.T) {
	dir := t.TempDir()
	p := mustPipeline(t, `stages: [{name: up, type: native, use: up}]`, withUpper())
	l := startLive(t, p)
	spec, err := Parse([]byte("output: {type: file, path: other.txt}\ndefaults: {max_record_bytes: 10}\nstages: []"), filepath.Join(dir, "p.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	next, err := Build(spec)
	if err != nil {
		t.Fatal(err)
	}
	err = l.reload(next)
	if !errors.Is(err, ErrReloadRefused) ||
		!strings.Contains(err.Error(), "output.type changed (stdout → file): cannot apply without a restart") ||
		!strings.Contains(err.Error(), "output.path changed ((none) → "+filepath.Join(dir, "other.txt")+"): cannot apply without a restart") {
		t.Fatalf("reload: %v; want refused, naming output.type and output.path", err)
	}
	long := strings.Repeat("y", 28)
	fmt.Fprintln(l.pw, long) // the old limit (1MiB) and the old stage still apply
	l.pw.Close()
	if err := <-l.done; err != nil {
		t.Fatal(err)
	}
	if l.out.String() != strings.ToUpper(long)+"\n" {
		t.Errorf("output %q: the refused reload changed something", l.out.String())
	}
}

func TestDryRunYAML(t *testing.T) {
	p := mustPipeline(t, `
name: demo
input: {codec: ndjson}
defaults: {timeout: 250ms}
stages:
  - {name: up, type: native, use: up, config: {field: msg}, workers: 2}
`, withUpper())
	out, err := p.Plan().YAML()
	if err != nil {
		t.Fatal(err)
	}
	want := `name: demo
input:
  type: stdin
  codec: ndjson
  max_record_bytes: 1MiB
  on_error: fail
output:
  type: stdout
  codec: ndjson # records that are not one JSON value take on_error: fail (defaults.on_error)
stages: # batches of up to 1024 records or 64KiB, 2 batches queued between stages
  - name: up
    type: native
    use: up
    config: {field: msg}
    timeout: 250ms
    on_error: fail
    workers: 2
    max_record_bytes: 1MiB
`
	if string(out) != want {
		t.Errorf("plan YAML:\n%s\nwant:\n%s", out, want)
	}
	// The printed plan is a pipeline file that gives the same plan.
	again := mustPipeline(t, string(out), withUpper())
	if !again.Plan().Equal(p.Plan()) {
		t.Errorf("the printed plan reads back as another plan: %v", p.Plan().Diff(again.Plan()))
	}
}
