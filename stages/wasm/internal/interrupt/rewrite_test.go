package interrupt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// wat builds testdata/NAME.wat with wat2wasm (Debian's wabt, which make
// fixtures installs), skipping the test without it.
func wat(tb testing.TB, name string) []byte {
	tb.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		tb.Skip("wat2wasm not installed (make fixtures installs Debian's wabt)")
	}
	out := filepath.Join(tb.TempDir(), name+".wasm")
	if b, err := exec.Command("wat2wasm", filepath.Join("testdata", name+".wat"), "-o", out).CombinedOutput(); err != nil {
		tb.Fatalf("wat2wasm %s: %v\n%s", name, err, b)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return bin
}

func newRuntime(tb testing.TB) wazero.Runtime {
	tb.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig())
	tb.Cleanup(func() { rt.Close(ctx) })
	return rt
}

// instantiate compiles bin in rt and instantiates it under name, without
// running its start functions' exports.
func instantiate(tb testing.TB, rt wazero.Runtime, bin []byte, name string) api.Module {
	tb.Helper()
	ctx := context.Background()
	c, err := rt.CompileModule(ctx, bin)
	if err != nil {
		tb.Fatalf("compile %s: %v", name, err)
	}
	m, err := rt.InstantiateModule(ctx, c, wazero.NewModuleConfig().WithName(name).WithStartFunctions())
	if err != nil {
		tb.Fatalf("instantiate %s: %v", name, err)
	}
	return m
}

// spinRuntime returns a runtime with the env.ready function spin.wat
// imports, which signals on the returned channel (dropping signals nobody
// waits for).
func spinRuntime(tb testing.TB) (wazero.Runtime, <-chan struct{}) {
	rt := newRuntime(tb)
	ready := make(chan struct{}, 1)
	_, err := rt.NewHostModuleBuilder("env").NewFunctionBuilder().
		WithFunc(func() {
			select {
			case ready <- struct{}{}:
			default:
			}
		}).Export("ready").Instantiate(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return rt, ready
}

// TestRewriteKeepsResults: every export of sink.wat returns the same values
// from the rewritten module as from the original (the start function run
// through StartExport when the interrupt checks moved it there), with the
// interrupt checks, the stack bound, or both; the flag is there only with
// the interrupt checks, the stack global only with the bound.
func TestRewriteKeepsResults(t *testing.T) {
	orig := wat(t, "sink")
	ctx := context.Background()
	rt := newRuntime(t)
	instantiate(t, rt, wat(t, "env"), "env")
	for _, o := range []Options{{Interrupt: true}, {StackLimit: 1 << 20}, {Interrupt: true, StackLimit: 1 << 20, MergeData: true, ThreadJumps: true}} {
		name := fmt.Sprintf("%+v", o)
		a := instantiate(t, rt, orig, "orig "+name) // (wazero ran its start section)
		rw, err := Rewrite(orig, o)
		if err != nil {
			t.Fatal(err)
		}
		b := instantiate(t, rt, rw, name)
		if o.Interrupt {
			if b.ExportedFunction(StartExport) == nil {
				t.Fatalf("%s: the rewritten module does not export %s", name, StartExport)
			}
			if _, err := b.ExportedFunction(StartExport).Call(ctx); err != nil {
				t.Fatal(err)
			}
		} else if b.ExportedFunction(StartExport) != nil {
			t.Errorf("%s: the start function was moved to %s", name, StartExport)
		}
		if _, err := New(b); (err == nil) != o.Interrupt {
			t.Errorf("%s: interrupt.New: %v", name, err)
		}
		if (b.ExportedGlobal(StackExport) != nil) != (o.StackLimit > 0) {
			t.Errorf("%s: the stack global is exported: %v", name, b.ExportedGlobal(StackExport) != nil)
		}
		tests := []struct {
			fn   string
			args []uint64
		}{
			{"fib", []uint64{20}}, {"sum", []uint64{1000}}, {"multi", []uint64{100}}, {"pair", []uint64{6}},
			{"indirect", []uint64{0, 12}}, {"indirect", []uint64{1, 15}}, {"imported", []uint64{7}},
			{"counter", nil}, {"switch", []uint64{0}}, {"switch", []uint64{1}}, {"switch", []uint64{2}},
			{"switch", []uint64{9}}, {"bulk", nil}, {"simd", nil}, {"trunc", []uint64{api.EncodeF64(-3.7e12)}},
			{"refs", nil}, {"mem", []uint64{api.EncodeI32(-5)}},
		}
		for _, tc := range tests {
			want, err := a.ExportedFunction(tc.fn).Call(ctx, tc.args...)
			if err != nil {
				t.Fatalf("%s%v original: %v", tc.fn, tc.args, err)
			}
			got, err := b.ExportedFunction(tc.fn).Call(ctx, tc.args...)
			if err != nil {
				t.Fatalf("%s: %s%v rewritten: %v", name, tc.fn, tc.args, err)
			}
			if len(got) != len(want) || (len(got) > 0 && got[0] != want[0]) {
				t.Errorf("%s: %s%v = %v rewritten, %v original", name, tc.fn, tc.args, got, want)
			}
			if g := b.ExportedGlobal(StackExport); g != nil && g.Get() != 0 {
				t.Errorf("%s: after %s the stack global is %d, want 0", name, tc.fn, g.Get())
			}
		}
		if got, _ := b.ExportedFunction("counter").Call(ctx); got[0] != 5 {
			t.Errorf("%s: counter = %d, want 5 (the start function ran)", name, got[0])
		}
	}
}

// TestRewriteInsertsChecks: one check per function plus one per loop,
// wrapped (see wrapCode) where the loop has no parameters.
func TestRewriteInsertsChecks(t *testing.T) {
	orig := wat(t, "spin")
	rw, err := Rewrite(orig, Options{Interrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	// Four functions, two loops: spin's (no locals: its counter is local
	// 0) and count's (one parameter: its counter is local 1). The tick's
	// ref.func names the first export, spin (function 1, after the import).
	if n := bytes.Count(rw, checkCode(0, 1, 1)); n != 4 {
		t.Errorf("%d entry checks, want 4", n)
	}
	// spin's loop (no parameters, no results) is wrapped: the head before
	// the loop, the check after its block type, the tail after its end.
	// count's (a parameter) keeps the check inside.
	head, check, tail := wrapCode(0, 0, 1)
	want := append(append(append([]byte{}, head...), 0x03, 0x40), check...)
	if n := bytes.Count(rw, want); n != 1 {
		t.Errorf("%d wrapped loops with counter 0, want 1", n)
	}
	if n := bytes.Count(rw, tail); n != 1 {
		t.Errorf("%d wrapped loop tails, want 1", n)
	}
	if n := bytes.Count(rw, loopCode(0, 1, 1)); n != 1 {
		t.Errorf("%d loop checks with counter 1, want 1", n)
	}
	if !bytes.Contains(rw, []byte(FlagExport)) {
		t.Errorf("the flag is not exported")
	}
}

// TestInterrupt: each spinning export of spin.wat stops with a trap once the
// armed context is cancelled while it runs; disarm reports it, and the instance then runs
// normally (the flag is cleared).
func TestInterrupt(t *testing.T) {
	rw, err := Rewrite(wat(t, "spin"), Options{Interrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	rt, ready := spinRuntime(t)
	m := instantiate(t, rt, rw, "spin")
	f, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fn   string
		args []uint64
	}{{"spin", nil}, {"rec", []uint64{60}}, {"count", []uint64{1}}} {
		t.Run(tc.fn, func(t *testing.T) {
			fired, err := interruptCall(t, f, m, ready, tc.fn, tc.args...)
			if !fired {
				t.Error("disarm reports the flag was not set")
			}
			if err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Errorf("err = %v, want the interrupt's trap", err)
			}
			// Cleared: a bounded call runs to its end.
			d := f.Arm(context.Background())
			if _, err := m.ExportedFunction("rec").Call(context.Background(), 10); err != nil {
				t.Errorf("after the interrupt: %v", err)
			}
			if d() {
				t.Error("the flag fired without a done context")
			}
		})
	}
}

// TestInterruptStart: a spinning start function does not run inside
// instantiation; called through StartExport it is interruptible.
func TestInterruptStart(t *testing.T) {
	rw, err := Rewrite(wat(t, "spinstart"), Options{Interrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	rt := newRuntime(t)
	m := instantiate(t, rt, rw, "spinstart")
	f, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // already done: the flag is set before the call
	disarm := f.Arm(ctx)
	_, err = m.ExportedFunction(StartExport).Call(context.Background())
	if !disarm() || err == nil {
		t.Errorf("err = %v, want the start function interrupted", err)
	}
}

// TestArmRace exercises Arm and disarm against contexts cancelled from other
// goroutines, for the race detector, while the guest runs.
func TestArmRace(t *testing.T) {
	rw, err := Rewrite(wat(t, "spin"), Options{Interrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	rt, _ := spinRuntime(t)
	m := instantiate(t, rt, rw, "spin")
	f, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	for range 200 {
		ctx, cancel := context.WithCancel(context.Background())
		disarm := f.Arm(ctx)
		go cancel()
		_, err := m.ExportedFunction("rec").Call(context.Background(), 12)
		fired := disarm()
		if err != nil && !fired {
			t.Fatalf("trapped without the flag: %v", err)
		}
	}
}

// TestRewriteRefuses: malformed input and a module that already has the
// flag's name are errors wrapping ErrUnsupported, never a panic.
func TestRewriteRefuses(t *testing.T) {
	sink := wat(t, "sink")
	rw, err := Rewrite(sink, Options{Interrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	for name, bin := range map[string][]byte{
		"empty":       nil,
		"not_wasm":    []byte("#!/bin/sh\n"),
		"version_2":   {0, 'a', 's', 'm', 2, 0, 0, 0},
		"truncated":   sink[:len(sink)/2],
		"rewritten":   rw,
		"bad_section": append(append([]byte{}, header...), 0x42, 0x00),
		"no_function": header, // nothing for the tick's ref.func to name
	} {
		if _, err := Rewrite(bin, Options{Interrupt: true}); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: err = %v, want ErrUnsupported", name, err)
		}
	}
}

// TestRewriteGoGuests: the Go guests built by make fixtures (WASI
// reactors of several MB) rewrite (interrupt checks and stack bound) and
// compile.
func TestRewriteGoGuests(t *testing.T) {
	paths, _ := filepath.Glob("../../testdata/bin/*.wasm")
	if len(paths) == 0 {
		t.Skip("no guests in stages/wasm/testdata/bin (run make fixtures)")
	}
	rt := wazero.NewRuntimeWithConfig(context.Background(), wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(context.Background())
	for _, p := range paths {
		bin, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rw, err := Rewrite(bin, Options{Interrupt: true, StackLimit: 8 << 20, MergeData: true, ThreadJumps: true})
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		c, err := rt.CompileModule(context.Background(), rw)
		if err != nil {
			t.Errorf("%s rewritten does not compile: %v", p, err)
			continue
		}
		if _, ok := c.ExportedFunctions()[StartExport]; ok {
			t.Errorf("%s: a Go guest has no start section, yet %s is exported", p, StartExport)
		}
		c.Close(context.Background())
	}
}

// FuzzRewrite: Rewrite never panics, and whatever it accepts of a module
// wazero accepts, wazero accepts rewritten.
func FuzzRewrite(f *testing.F) {
	for _, name := range []string{"sink", "spin", "spinstart", "env", "stack", "data", "dispatch"} {
		f.Add(wat(f, name), false)
		f.Add(wat(f, name), true)
	}
	f.Add(header, true)
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
	defer rt.Close(ctx)
	f.Fuzz(func(t *testing.T, bin []byte, stack bool) {
		o := Options{Interrupt: true}
		if stack {
			o.StackLimit, o.MergeData, o.ThreadJumps = 1<<20, true, true
		}
		rw, err := Rewrite(bin, o)
		if err != nil {
			return
		}
		c, err := rt.CompileModule(ctx, bin)
		if err != nil {
			return
		}
		c.Close(ctx)
		c, err = rt.CompileModule(ctx, rw)
		if err != nil {
			t.Fatalf("the module compiles, rewritten it does not: %v", err)
		}
		c.Close(ctx)
	})
}

// TestInterruptDuringGC: a garbage collection that starts while the guest
// spins completes (native code cannot be preempted: the guest's periodic
// exit to Go lets the collector stop the world), and the watchdog still
// gets to stop the guest; with a flag alone both would wait for ever.
func TestInterruptDuringGC(t *testing.T) {
	rw, err := Rewrite(wat(t, "spin"), Options{Interrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	rt, ready := spinRuntime(t)
	m := instantiate(t, rt, rw, "spin")
	f, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, fn := range []string{"spin", "rec"} {
		var args []uint64
		if fn == "rec" {
			args = []uint64{60}
		}
		ctx, cancel := context.WithCancel(context.Background())
		disarm := f.Arm(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := m.ExportedFunction(fn).Call(context.Background(), args...)
			done <- err
		}()
		<-ready
		gc := make(chan struct{})
		go func() { runtime.GC(); close(gc) }()
		select {
		case <-gc:
		case <-time.After(time.Minute): // a hang, not a speed limit
			t.Fatalf("%s: the garbage collection waits for the spinning guest", fn)
		}
		cancel()
		select {
		case err = <-done:
		case <-time.After(time.Minute):
			t.Fatalf("%s: the guest was not interrupted", fn)
		}
		if !disarm() || err == nil {
			t.Errorf("%s: err = %v, want the interrupt's trap", fn, err)
		}
	}
}

// BenchmarkRewrite is the rewrite at Load of the W1 Go guest (3.6 MB).
func BenchmarkRewrite(b *testing.B) {
	bin, err := os.ReadFile("../../testdata/bin/w1.wasm")
	if err != nil {
		b.Skip("w1.wasm not built (run make fixtures)")
	}
	b.SetBytes(int64(len(bin)))
	for b.Loop() {
		if _, err := Rewrite(bin, Options{Interrupt: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestStackBound: with a stack limit, every way out of a function gives
// back what its entry charged (the stack global is 0 after each export
// returns, with or without the interrupt checks), results are unchanged,
// and a recursion without end traps after exactly limit / FrameEstimate
// calls, leaving the global above the limit.
func TestStackBound(t *testing.T) {
	orig := wat(t, "stack")
	const limit = 48 * 1000 // endless has one parameter: 48 bytes a call
	ctx := context.Background()
	rt := newRuntime(t)
	a := instantiate(t, rt, orig, "orig")
	for _, o := range []Options{{StackLimit: limit}, {StackLimit: limit, Interrupt: true}} {
		rw, err := Rewrite(orig, o)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("interrupt=%v", o.Interrupt)
		b := instantiate(t, rt, rw, name)
		stack := b.ExportedGlobal(StackExport)
		if stack == nil {
			t.Fatalf("%s: %s is not exported", name, StackExport)
		}
		for _, tc := range []struct {
			fn string
			n  uint64
		}{{"ret", 0}, {"ret", 50}, {"br", 0}, {"br", 50}, {"brif", 0}, {"brif", 50}, {"table", 0}, {"table", 50},
			{"pair", 3}, {"pairsum", 3}, {"dead", 20}} {
			want, err := a.ExportedFunction(tc.fn).Call(ctx, tc.n)
			if err != nil {
				t.Fatalf("%s(%d) original: %v", tc.fn, tc.n, err)
			}
			got, err := b.ExportedFunction(tc.fn).Call(ctx, tc.n)
			if err != nil {
				t.Fatalf("%s: %s(%d): %v", name, tc.fn, tc.n, err)
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("%s: %s(%d) = %v, original %v", name, tc.fn, tc.n, got, want)
			}
			if v := stack.Get(); v != 0 {
				t.Errorf("%s: after %s(%d) the stack global is %d, want 0", name, tc.fn, tc.n, v)
			}
		}
		// Deep but within the limit: ret charges 48 a call.
		if _, err := b.ExportedFunction("ret").Call(ctx, limit/48-1); err != nil {
			t.Errorf("%s: ret(%d), within the limit: %v", name, limit/48-1, err)
		}
		_, err = b.ExportedFunction("endless").Call(ctx, 0)
		if err == nil || !strings.Contains(err.Error(), "unreachable") {
			t.Fatalf("%s: endless: err = %v, want the stack bound's trap", name, err)
		}
		if calls := b.ExportedGlobal("calls").Get(); calls != limit/48 {
			t.Errorf("%s: endless ran %d calls, want %d", name, calls, limit/48)
		}
		if v := stack.Get(); v <= limit {
			t.Errorf("%s: after the trap the stack global is %d, want above %d", name, v, limit)
		}
	}
}

// TestMergeData: merged, data.wat's segments leave the memory exactly as
// the original's do, in fewer segments; the W1 Go guest's 39,303 shrink to
// a handful. A module whose code uses memory.init or data.drop (sink.wat)
// keeps its segments.
func TestMergeData(t *testing.T) {
	orig := wat(t, "data")
	rw, err := Rewrite(orig, Options{MergeData: true, StackLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dataSegments(t, rw), uint32(2); got != want {
		t.Errorf("%d segments merged, want %d (the near ones joined, the far one apart)", got, want)
	}
	rt := newRuntime(t)
	a := instantiate(t, rt, orig, "orig")
	b := instantiate(t, rt, rw, "merged")
	ma, _ := a.Memory().Read(0, a.Memory().Size())
	mb, _ := b.Memory().Read(0, b.Memory().Size())
	if !bytes.Equal(ma, mb) {
		t.Errorf("the merged segments leave another memory than the original's")
	}

	sink := wat(t, "sink")
	rw, err = Rewrite(sink, Options{MergeData: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dataSegments(t, rw), dataSegments(t, sink); got != want {
		t.Errorf("sink.wat (memory.init, data.drop): %d segments after the rewrite, want its %d", got, want)
	}

	w1, err := os.ReadFile("../../testdata/bin/w1.wasm")
	if err != nil {
		t.Skip("w1.wasm not built (run make fixtures)")
	}
	rw, err = Rewrite(w1, Options{MergeData: true, Interrupt: true, StackLimit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	before, after := dataSegments(t, w1), dataSegments(t, rw)
	if after > 100 || after >= before {
		t.Errorf("the W1 guest's %d data segments merged into %d, want at most 100", before, after)
	}
	t.Logf("the W1 guest's %d data segments merged into %d", before, after)
}

// dataSegments returns the number of segments of bin's data section.
func dataSegments(t *testing.T, bin []byte) uint32 {
	t.Helper()
	r := &reader{b: bin, pos: len(header)}
	for r.pos < len(r.b) {
		id := r.byte()
		p := r.bytes(int(r.u32()))
		if id == secData {
			return (&reader{b: p}).u32()
		}
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	return 0
}

// TestThreadJumps: in dispatch loops (dispatch.wat), ThreadJumps turns each
// forward jump (`i32.const P  local.set $pc  br $loop`) into a branch to
// the dispatch block that the loop's br_table would reach, keeps backward
// jumps and jumps whose target is not a constant, and the functions return
// what they did; with the interrupt checks, a loop of backward jumps is
// still stopped.
func TestThreadJumps(t *testing.T) {
	orig := wat(t, "dispatch")
	rw, err := Rewrite(orig, Options{ThreadJumps: true})
	if err != nil {
		t.Fatal(err)
	}
	// sum's $pc is local 1. Forward: from resume point 0 to 2 (inside $b1:
	// $b2 is label 1), from 1 to 2 ($b2 is label 0), from 2 to 3 ($b3 is
	// label 0). Backward: from 2 to 1 inside the if (the loop is label 2).
	for _, c := range []struct {
		name      string
		seq, orig []byte
	}{
		{"0 to 2", []byte{0x41, 2, 0x21, 1, 0x0c, 1}, []byte{0x41, 2, 0x21, 1, 0x0c, 3}},
		{"1 to 2", []byte{0x41, 2, 0x21, 1, 0x0c, 0}, []byte{0x41, 2, 0x21, 1, 0x0c, 2}},
		{"2 to 3", []byte{0x41, 3, 0x21, 1, 0x0c, 0}, []byte{0x41, 3, 0x21, 1, 0x0c, 1}},
		{"2 to 1 (backward)", []byte{0x41, 1, 0x21, 1, 0x0c, 2}, []byte{0x41, 1, 0x21, 1, 0x0c, 2}},
	} {
		if !bytes.Contains(orig, c.orig) {
			t.Fatalf("%s: dispatch.wat does not compile to % x", c.name, c.orig)
		}
		if !bytes.Contains(rw, c.seq) {
			t.Errorf("%s: the rewritten module has no % x", c.name, c.seq)
		}
	}
	ctx := context.Background()
	rt := newRuntime(t)
	a := instantiate(t, rt, orig, "orig")
	for _, o := range []Options{{ThreadJumps: true}, {ThreadJumps: true, Interrupt: true, StackLimit: 1 << 20}} {
		rw, err := Rewrite(orig, o)
		if err != nil {
			t.Fatal(err)
		}
		name := fmt.Sprintf("%+v", o)
		b := instantiate(t, rt, rw, name)
		for _, tc := range []struct {
			fn  string
			arg uint64
		}{{"sum", 0}, {"sum", 1}, {"sum", 100}, {"pick", 0}, {"pick", 1}, {"pick", 2}, {"pick", 3}, {"pick", 7}} {
			want, err := a.ExportedFunction(tc.fn).Call(ctx, tc.arg)
			if err != nil {
				t.Fatal(err)
			}
			got, err := b.ExportedFunction(tc.fn).Call(ctx, tc.arg)
			if err != nil || got[0] != want[0] {
				t.Errorf("%s: %s(%d) = %v, %v; want %v", name, tc.fn, tc.arg, got, err, want)
			}
		}
		if !o.Interrupt {
			continue
		}
		f, err := New(b)
		if err != nil {
			t.Fatal(err)
		}
		fired, err := interruptCall(t, f, b, nil, "sum", api.EncodeI32(-1)) // 2^32 iterations
		if !fired || err == nil {
			t.Errorf("sum(2^32-1): err = %v, want the interrupt's trap", err)
		}
	}
}

// TestWrappedLoops: functions whose loops the rewrite wraps (loops.wat:
// nested loops, branches out of them by br, br_if and br_table, loops
// with a result) return what they did, with the interrupt checks alone,
// with the stack bound and with ThreadJumps too.
func TestWrappedLoops(t *testing.T) {
	orig := wat(t, "loops")
	ctx := context.Background()
	rt := newRuntime(t)
	a := instantiate(t, rt, orig, "orig")
	for i, o := range []Options{{Interrupt: true}, {Interrupt: true, StackLimit: 1 << 20, ThreadJumps: true}} {
		rw, err := Rewrite(orig, o)
		if err != nil {
			t.Fatal(err)
		}
		b := instantiate(t, rt, rw, fmt.Sprint("wrapped", i))
		for _, tc := range []struct {
			fn  string
			arg uint64
		}{{"nested", 0}, {"nested", 1}, {"nested", 7}, {"nested", 40}, {"nested", 5000},
			{"table", 0}, {"table", 1}, {"table", 2}, {"table", 9},
			{"result", 0}, {"result", 1}, {"result", 9}, {"result", 100}} {
			want, err := a.ExportedFunction(tc.fn).Call(ctx, tc.arg)
			if err != nil {
				t.Fatalf("%s(%d) original: %v", tc.fn, tc.arg, err)
			}
			got, err := b.ExportedFunction(tc.fn).Call(ctx, tc.arg)
			if err != nil || got[0] != want[0] {
				t.Errorf("%+v: %s(%d) = %v, %v; want %v", o, tc.fn, tc.arg, got, err, want)
			}
		}
	}
}

// TestDispatchLoopsCount: a dispatch loop (dispatch.wat, the shape of
// every Go function with jumps) counts its iterations in the global
// countdown (countCode), with or without ThreadJumps; a function that
// opens with one has no entry check, one that calls first keeps it; a
// loop of backward jumps through a dispatch loop and a recursion through
// functions that open with one are still stopped; other loops (loops.wat)
// keep the function's counter.
func TestDispatchLoopsCount(t *testing.T) {
	orig := wat(t, "dispatch")
	ctx := context.Background()
	rt := newRuntime(t)
	// No globals in dispatch.wat: the flag is global 0, the countdown 1.
	check, tail := countCode(0, 1, 0)
	head, local, _ := wrapCode(0, 4, 0) // sum: one parameter, three locals
	for i, o := range []Options{{Interrupt: true}, {Interrupt: true, ThreadJumps: true, StackLimit: 1 << 20}} {
		rw, err := Rewrite(orig, o)
		if err != nil {
			t.Fatal(err)
		}
		// sum, pick, rec and pre: every loop is a dispatch loop.
		if n := bytes.Count(rw, append(append(append([]byte{}, head...), 0x03, 0x40), check...)); n != 4 {
			t.Errorf("%+v: %d loops counted in the global, want 4", o, n)
		}
		if n := bytes.Count(rw, tail); n != 4 {
			t.Errorf("%+v: %d tails resetting the global, want 4", o, n)
		}
		if bytes.Contains(rw, local) {
			t.Errorf("%+v: sum's loop counts in its local counter", o)
		}
		// sum, pick and rec open with their dispatch loop: no entry check
		// (see entersCountedLoop); pre calls first: one.
		if n := bytes.Count(rw, checkCode(0, 1, 0)); n != 1 {
			t.Errorf("%+v: %d entry checks, want 1 (pre's)", o, n)
		}
		m := instantiate(t, rt, rw, fmt.Sprint("counted", i))
		f, err := New(m)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := m.ExportedFunction("sum").Call(ctx, 5000); err != nil || got[0] != 5000*4999/2 {
			t.Errorf("%+v: sum(5000) = %v, %v", o, got, err)
		}
		if got, err := m.ExportedFunction("pre").Call(ctx); err != nil || got[0] != 7 {
			t.Errorf("%+v: pre() = %v, %v", o, got, err)
		}
		for _, tc := range []struct {
			fn  string
			arg uint64
		}{{"sum", api.EncodeI32(-1)}, {"rec", 60}} { // 2^32 iterations, 2^60 calls
			fired, err := interruptCall(t, f, m, nil, tc.fn, tc.arg)
			if !fired || err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Errorf("%+v: %s(%d): err = %v, want the interrupt's trap", o, tc.fn, tc.arg, err)
			}
		}
	}
	// loops.wat has no dispatch loop: every wrapped loop keeps its local
	// counter.
	rw, err := Rewrite(wat(t, "loops"), Options{Interrupt: true})
	if err != nil {
		t.Fatal(err)
	}
	// (br $after  end  i32.const TickEvery  global.set: a counted loop's
	// tail, whatever the globals' indices.)
	reset := appendS32([]byte{0x0c, 0x02, 0x0b, 0x41}, TickEvery)
	if !bytes.HasPrefix(tail, append(reset, 0x24)) {
		t.Fatalf("the tail % x does not start with % x", tail, reset)
	}
	if bytes.Contains(rw, append(reset, 0x24)) {
		t.Error("loops.wat: a loop counts in the global")
	}
}

// codeBodies returns the function bodies of bin's code section, in order.
func codeBodies(tb testing.TB, bin []byte) [][]byte {
	tb.Helper()
	r := &reader{b: bin, pos: len(header)}
	for r.pos < len(r.b) {
		id := r.byte()
		p := r.bytes(int(r.u32()))
		if r.err != nil {
			tb.Fatal(r.err)
		}
		if id != secCode {
			continue
		}
		cr := &reader{b: p}
		var out [][]byte
		for range cr.u32() {
			out = append(out, cr.bytes(int(cr.u32())))
		}
		if cr.err != nil {
			tb.Fatal(cr.err)
		}
		return out
	}
	tb.Fatal("no code section")
	return nil
}

// TestEntryChecks: which functions of calls.wat keep their entry check
// (all but those that open with a dispatch loop, whose check counts each
// entry), and every shape of endless work stops once interrupted:
// recursion of a function, mutual recursion, recursion through
// call_indirect, a loop in a leaf, and nested loops across calls.
func TestEntryChecks(t *testing.T) {
	rw, err := Rewrite(wat(t, "calls"), Options{Interrupt: true, StackLimit: 1 << 20, ThreadJumps: true})
	if err != nil {
		t.Fatal(err)
	}
	// No globals: the flag is global 0, the countdown 1; the tick names
	// the first export, self (function 0).
	entry := checkCode(0, 1, 0)
	bodies := codeBodies(t, rw)
	for i, c := range []struct {
		name  string
		check bool
	}{{"self", true}, {"dispatch_a", false}, {"dispatch_b", false}, {"dispatch_ind", false},
		{"leaf_loop", true}, {"leaf", true}, {"chain", true}} {
		if got := bytes.Contains(bodies[i], entry); got != c.check {
			t.Errorf("%s: entry check %v, want %v", c.name, got, c.check)
		}
	}
	ctx := context.Background()
	m := instantiate(t, newRuntime(t), rw, "calls")
	f, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		fn  string
		arg uint64
	}{{"self", 60}, {"mutual", 60}, {"indirect", 60}, {"leaf_loop", 0}, {"chain", 1 << 20}} {
		t.Run(tc.fn, func(t *testing.T) {
			// Bounded, it returns.
			if _, err := m.ExportedFunction(tc.fn).Call(ctx, 3); err != nil {
				t.Fatalf("%s(3): %v", tc.fn, err)
			}
			fired, err := interruptCall(t, f, m, nil, tc.fn, tc.arg)
			if !fired || err == nil || !strings.Contains(err.Error(), "unreachable") {
				t.Errorf("%s(%d): err = %v, want the interrupt's trap", tc.fn, tc.arg, err)
			}
		})
	}
}

// interruptCall arms f, calls the export fn of m with args on another
// goroutine, waits for ready when it is not nil (the guest is past its first
// checks), cancels the armed context and waits for the call to return. It
// returns what disarm reports (the flag was set) and the call's error; a call
// that does not return within a minute fails the test (a hang, not a speed
// limit).
func interruptCall(t *testing.T, f *Flag, m api.Module, ready <-chan struct{}, fn string, args ...uint64) (fired bool, err error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	disarm := f.Arm(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := m.ExportedFunction(fn).Call(context.Background(), args...)
		done <- err
	}()
	if ready != nil {
		<-ready
	}
	cancel()
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s%v was not interrupted", fn, args)
	}
	return disarm(), err
}
