package script

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// fake is a Language whose VMs act on the record's data: "drop", "fail",
// "panic", "overflow", "loop" (until interrupted), "split" (emits two and
// returns the record), "scatter" (emits three, the second with metadata,
// and drops the record), anything else is returned upper-cased.
type fake struct {
	body     bool
	vms      int // VMs made for instances
	checks   int // VMs made for Load's check
	initFail bool
}

var errOverflow = errors.New("stack overflow")

func (f *fake) Compile(src *Source) (bool, error) {
	if strings.Contains(src.Code, "syntax error") {
		return false, &engine.ConfigError{Msg: "syntax error"}
	}
	return f.body, nil
}

func (f *fake) NewVM(in *Instance) VM {
	if in == nil {
		f.checks++
	} else {
		f.vms++
	}
	return &fakeVM{f: f, in: in, id: f.vms}
}

func (f *fake) Message(err error) string { return "fake: " + err.Error() }
func (f *fake) Broken(err error) bool    { return errors.Is(err, errOverflow) }

type fakeVM struct {
	f      *fake
	in     *Instance
	id     int
	ctx    context.Context
	rec    *engine.Record
	ret    []byte
	closed bool
}

func (v *fakeVM) Bind(ctx context.Context)         { v.ctx = ctx }
func (v *fakeVM) Unbind(ctx context.Context) bool  { v.ctx = nil; return ctx.Err() != nil }
func (v *fakeVM) Run() error                       { return nil }
func (v *fakeVM) Defines() (transform, flush bool) { return true, !v.f.body }
func (v *fakeVM) SetRecord(r *engine.Record) error { v.rec = r; return nil }
func (v *fakeVM) Close()                           { v.closed = true }
func (v *fakeVM) Result() ([]byte, map[string]string, bool, error) {
	return v.ret, map[string]string{"vm": fmt.Sprint(v.id)}, v.ret != nil, nil
}

func (v *fakeVM) Init(any) error {
	if v.f.initFail && v.id > 1 {
		return errors.New("init failed")
	}
	return nil
}

func (v *fakeVM) Call(flush bool) error {
	v.ret = nil
	if flush {
		v.in.Emit([]byte("flushed"), nil)
		return nil
	}
	switch d := string(v.rec.Data); d {
	case "drop":
	case "fail":
		return errors.New("failed")
	case "panic":
		panic("boom")
	case "overflow":
		return errOverflow
	case "loop":
		<-v.ctx.Done()
		return v.ctx.Err()
	case "split":
		v.in.Emit([]byte("s1"), nil)
		v.in.Emit([]byte("s2"), nil)
		v.ret = []byte(d)
	case "scatter":
		v.in.Emit([]byte("e1"), nil)
		v.in.Emit([]byte("e2"), map[string]string{"k": "v"})
		v.in.Emit([]byte("e3"), nil)
	default:
		v.ret = []byte(strings.ToUpper(d))
	}
	return nil
}

func newFake(t *testing.T, f *fake, code string) *Stage {
	t.Helper()
	spec := &engine.StageSpec{Name: "s", Type: "fake", Code: code}
	s, err := NewStage(spec, &engine.BuildEnv{}, "fake", ".fake", nil, func(*Stage) Language { return f })
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// loadedFake is an instance of a loaded stage of f.
func loadedFake(t *testing.T, f *fake) *Instance {
	t.Helper()
	s := newFake(t, f, "code")
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	tr, err := s.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tr.(*Instance)
}

func TestHost(t *testing.T) {
	f := &fake{}
	s := newFake(t, f, "code")
	if _, err := s.New(context.Background()); err == nil {
		t.Error("New before Load succeeded")
	}
	if err := s.Load(context.Background()); err != nil || f.checks != 1 {
		t.Fatalf("Load = %v, %d check VMs; want one", err, f.checks)
	}
	tr, err := s.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	in := tr.(*Instance)
	transform := func(ctx context.Context, data string) ([]string, error) {
		var out []string
		err := in.Transform(ctx, engine.NewRecord([]byte(data)), func(r *engine.Record) { out = append(out, string(r.Data)+"@"+r.Meta["vm"]) })
		return out, err
	}
	cases := []struct {
		data    string
		want    string
		err     string
		vmAfter int // VMs made once the call returned
	}{
		{"a", "A@1", "", 1},
		{"split", "s1@,s2@,split@1", "", 1},
		{"drop", "", "", 1},
		{"fail", "", "fake: failed", 1},
		{"panic", "", "fake: boom", 1}, // replaced before the next call
		{"b", "B@2", "", 2},
		{"overflow", "", "fake: stack overflow", 2},
		{"c", "C@3", "", 3},
	}
	for _, c := range cases {
		out, err := transform(context.Background(), c.data)
		if got := strings.Join(out, ","); got != c.want || fmt.Sprint(err) != map[bool]string{true: "<nil>", false: c.err}[c.err == ""] {
			t.Errorf("%s: %q, %v; want %q, %q", c.data, got, err, c.want, c.err)
		}
		if f.vms != c.vmAfter {
			t.Errorf("%s: %d VMs made, want %d", c.data, f.vms, c.vmAfter)
		}
	}
	// A timeout interrupts the call; Reset (which the engine calls after a
	// timeout) replaces the VM at once, else the next call does.
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(engine.ErrStageTimeout)
	if _, err := transform(ctx, "loop"); !errors.Is(err, context.Canceled) || f.vms != 3 {
		t.Errorf("timed out call: %v, %d VMs; want canceled and no replacement yet", err, f.vms)
	}
	if err := in.Reset(context.Background()); err != nil || f.vms != 4 {
		t.Errorf("Reset: %v, %d VMs; want a fresh VM", err, f.vms)
	}
	if out, err := transform(context.Background(), "d"); err != nil || strings.Join(out, ",") != "D@4" {
		t.Errorf("after Reset: %q, %v; want the fresh VM to serve", out, err)
	}
	if _, err := transform(ctx, "loop"); err == nil {
		t.Error("interrupted call: no error")
	}
	if out, _ := transform(context.Background(), "e"); strings.Join(out, ",") != "E@5" || f.vms != 5 {
		t.Errorf("the call after an interrupt without Reset: %q, %d VMs; want a replacement first", out, f.vms)
	}
	var flushed []string
	if err := in.Flush(context.Background(), func(r *engine.Record) { flushed = append(flushed, string(r.Data)) }); err != nil || strings.Join(flushed, ",") != "flushed" {
		t.Errorf("Flush = %v, %q", err, flushed)
	}
	vm := in.vm.(*fakeVM)
	in.Close()
	if !vm.closed {
		t.Error("Close left the VM open")
	}
}

func TestHostBody(t *testing.T) {
	f := &fake{body: true}
	s := newFake(t, f, "code")
	if err := s.Load(context.Background()); err != nil || f.checks != 0 {
		t.Fatalf("Load = %v, %d check VMs; want none for the body of transform", err, f.checks)
	}
	if err := newFake(t, &fake{}, "syntax error").Load(context.Background()); err == nil {
		t.Error("Load of a script that does not compile succeeded")
	}
}

func TestHostReplacementFails(t *testing.T) {
	tr := loadedFake(t, &fake{initFail: true})
	emit := func(*engine.Record) {}
	if err := tr.Transform(context.Background(), engine.NewRecord([]byte("panic")), emit); err == nil {
		t.Fatal("panic: no error")
	}
	if err := tr.Reset(context.Background()); err == nil || !strings.Contains(err.Error(), "init: fake: init failed") {
		t.Errorf("Reset = %v, want the init error", err)
	}
	err := tr.Transform(context.Background(), engine.NewRecord([]byte("a")), emit)
	if !errors.Is(err, engine.ErrFatal) || !strings.Contains(err.Error(), "init: fake: init failed") {
		t.Errorf("err = %v, want a fatal init error: a VM that cannot be replaced stops the stage", err)
	}
}

func TestHostBatch(t *testing.T) {
	f := &fake{}
	in := loadedFake(t, f)
	batch := func(ctx context.Context, data ...string) (string, error) {
		recs := make([]*engine.Record, len(data))
		for i, d := range data {
			recs[i] = engine.NewRecord([]byte(d))
		}
		var res engine.BatchResult
		res.Reset(len(recs))
		err := in.TransformBatch(ctx, recs, &res)
		var parts []string
		for k, r := range res.Records() {
			parts = append(parts, fmt.Sprintf("%d:%s@%s", res.Source(k), r.Data, r.Meta["vm"]))
		}
		for k := range res.NumFailed() {
			i, ferr := res.Failed(k)
			parts = append(parts, fmt.Sprintf("%d!%v", i, ferr))
		}
		return strings.Join(parts, ","), err
	}
	// A record that throws fails alone; one that breaks the VM fails and
	// a fresh VM serves the rest of the batch.
	got, err := batch(context.Background(), "a", "fail", "split", "panic", "b", "drop", "overflow", "c")
	want := "0:A@1,2:s1@,2:s2@,2:split@1,4:B@2,7:C@3,1!fake: failed,3!fake: boom,6!fake: stack overflow"
	if err != nil || got != want || f.vms != 3 {
		t.Errorf("batch = %q, %v, %d VMs;\nwant %q, 3 VMs", got, err, f.vms, want)
	}
	// An interrupted batch fails as a whole (the engine re-runs its
	// records one by one); the next call replaces the VM. The records it
	// changed hold their input again, the one a record it dropped carried
	// too.
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(engine.ErrStageTimeout)
	recs := []*engine.Record{engine.NewRecord([]byte("d")), engine.NewRecord([]byte("scatter")), engine.NewRecord([]byte("loop"))}
	var res engine.BatchResult
	res.Reset(len(recs))
	if err := in.TransformBatch(ctx, recs, &res); !errors.Is(err, context.Canceled) {
		t.Errorf("interrupted batch: %v, want canceled", err)
	}
	for i, want := range []string{"d", "scatter", "loop"} {
		if r := recs[i]; string(r.Data) != want || r.Meta != nil {
			t.Errorf("record %d after an interrupted batch: %q %v, want %q", i, r.Data, r.Meta, want)
		}
	}
	if got, err := batch(context.Background(), "f"); err != nil || got != "0:F@4" {
		t.Errorf("after an interrupted batch: %q, %v; want a fresh VM", got, err)
	}
}

// A batch's emitted records are those of a call per record: bytes,
// metadata (once the engine gave a record without any its input's, see
// engine.inherit) and number, whether the input record, dropped, carries
// the first of them or not.
func TestHostBatchEmitted(t *testing.T) {
	in := loadedFake(t, &fake{})
	// inherit is engine.inherit's.
	inherit := func(out, r *engine.Record) {
		if out != r && out.Meta == nil && len(r.Meta) > 0 {
			out.Meta = maps.Clone(r.Meta)
		}
	}
	inputs := func() []*engine.Record {
		var recs []*engine.Record
		for i, d := range []string{"scatter", "split", "scatter", "drop", "scatter", "a"} {
			r := engine.NewRecord([]byte(d))
			r.SetNumber(int64(i + 1))
			if i%2 == 0 && i > 0 {
				r.Set("in", fmt.Sprint(i))
			}
			recs = append(recs, r)
		}
		return recs
	}
	show := func(out, r *engine.Record) string {
		inherit(out, r)
		return fmt.Sprintf("%s %v #%d", out.Data, out.Meta, out.Number())
	}
	var one []string
	for _, r := range inputs() {
		var outs []*engine.Record
		if err := in.Transform(context.Background(), r, func(out *engine.Record) { outs = append(outs, out) }); err != nil {
			t.Fatal(err)
		}
		for _, out := range outs { // as the engine, once the call is over
			one = append(one, show(out, r))
		}
	}
	recs := inputs()
	var res engine.BatchResult
	res.Reset(len(recs))
	if err := in.TransformBatch(context.Background(), recs, &res); err != nil {
		t.Fatal(err)
	}
	var batch []string
	for k, out := range res.Records() {
		batch = append(batch, show(out, recs[res.Source(k)]))
	}
	if a, b := strings.Join(one, "\n"), strings.Join(batch, "\n"); a != b {
		t.Errorf("a call per record:\n%s\na batch:\n%s", a, b)
	}
	if res.Records()[0] != recs[0] {
		t.Error("the dropped record without metadata does not carry the first emitted one")
	}
}

// TestOutputArena checks Output: a copy of its own outside a batch; while
// the engine lends an arena, records cut from it one after the other, each
// followed by a newline, capped at its length, the bytes already in the
// arena untouched, and earlier records kept when a full arena is replaced.
func TestOutputArena(t *testing.T) {
	in := &Instance{}
	s := "abc"
	if out := in.Output(s); string(out) != s {
		t.Errorf("no arena: %q", out)
	}
	var nilIn *Instance
	if out := nilIn.Output(s); string(out) != s {
		t.Errorf("nil instance: %q", out)
	}
	arena := append(make([]byte, 0, 16), "before\n"...)
	in.UseArena(&arena)
	var outs [][]byte
	var want []string
	for i := range 40 { // grows past the first block several times
		rec := strings.Repeat(string(rune('a'+i%26)), i+1)
		out := in.Output(rec)
		if string(out) != rec || cap(out) != len(out) {
			t.Fatalf("record %d: %q (cap %d); want %q capped at its length", i, out, cap(out), rec)
		}
		outs, want = append(outs, out), append(want, rec)
	}
	if out := in.Output(""); len(out) != 0 {
		t.Errorf("empty record: %q", out)
	}
	last := arena[len(arena)-len(outs[len(outs)-1])-1:]
	if string(last) != want[len(want)-1]+"\n" {
		t.Errorf("arena ends %q; want the last record and a newline", last)
	}
	for i, out := range outs {
		if string(out) != want[i] {
			t.Errorf("record %d changed to %q", i, out)
		}
	}
	in.UseArena(nil)
	if out := in.Output(s); string(out) != s || len(arena) > 0 && &arena[len(arena)-1] == &out[len(out)-1] {
		t.Errorf("after UseArena(nil): %q, in the arena", out)
	}
	if in.lastOut == 0 {
		t.Error("the batch's output size was not kept for the next first block")
	}
	// The next batch's first block holds what the last batch wrote.
	var next []byte
	in.UseArena(&next)
	in.Output("x")
	if cap(next) < in.lastOut {
		t.Errorf("next block %d bytes; want at least the last batch's %d", cap(next), in.lastOut)
	}
	in.UseArena(nil)
}

// Before any batch wrote, the first block holds the batch's input records
// (and their newlines) with room to spare.
func TestOutputArenaFirstBlock(t *testing.T) {
	in := &Instance{}
	var a []byte
	in.UseArena(&a)
	in.batch = []*engine.Record{engine.NewRecord(make([]byte, 100_000)), engine.NewRecord(make([]byte, 50_000))}
	in.Output("x")
	if cap(a) < 150_002 {
		t.Errorf("first block %d bytes; want the batch's 150,002 at least", cap(a))
	}
	in.UseArena(nil)
}
