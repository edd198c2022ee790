package wasm

import (
	"context"
	"runtime"

	"github.com/tetratelabs/wazero"

	"github.com/pipe-dev/pipe/stages/wasm/internal/interrupt"
)

// compile makes the stage's runtime and compiles bin in it. The module is
// rewritten by package interrupt: always with the stack bound
// (stack_limit), and with the interrupt checks when its calls must be
// interruptible (closeOnDone) and wazero compiles it (interrupt.Supported;
// elsewhere wazero's close-on-context-done interrupts it). When the module
// cannot be rewritten, or the rewritten module does not compile, it runs
// as it is (with a log line): close-on-context-done when closeOnDone, and
// no stack bound but wazero's own. The returned runtime is the caller's to
// close, also when err (the compile error of the module as read) is not
// nil.
func (s *stage) compile(ctx context.Context, bin []byte) (wazero.Runtime, wazero.CompiledModule, error) {
	s.interruptible, s.stackBounded = false, false
	var why string // why the rewrite is not used
	if !s.noRewrite {
		o := interrupt.Options{Interrupt: s.closeOnDone && interrupt.Supported(), StackLimit: s.stackLimit, MergeData: true, ThreadJumps: true}
		rw, err := interrupt.Rewrite(bin, o)
		if err == nil {
			runtime.GC() // the rewrite's garbage, before compiling (see Load)
			rt := s.runtime(ctx, s.closeOnDone && !o.Interrupt)
			compiled, cerr := rt.CompileModule(ctx, rw)
			if cerr == nil {
				s.interruptible, s.stackBounded = o.Interrupt, true
				return rt, compiled, nil
			}
			rt.Close(ctx)
			err = cerr
		}
		why = err.Error()
	}
	rt := s.runtime(ctx, s.closeOnDone)
	compiled, err := rt.CompileModule(ctx, bin)
	if err == nil && why != "" { // (else the module itself is broken: Load says so)
		s.log.Warn("running the module as it is: it cannot be rewritten, so stack_limit does not apply (wazero's own ceiling, about 80 MB a worker, does) and a timeout interrupts it with wazero's close-on-context-done (slower)", "path", s.path, "err", why)
	}
	return rt, compiled, err
}

func (s *stage) runtime(ctx context.Context, closeOnDone bool) wazero.Runtime {
	rc := wazero.NewRuntimeConfig().
		WithCloseOnContextDone(closeOnDone).
		WithMemoryLimitPages(s.pages).
		WithCompilationCache(compilationCache())
	return wazero.NewRuntimeWithConfig(ctx, rc)
}
