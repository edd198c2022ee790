package wasm

import (
	"context"

	"github.com/tetratelabs/wazero"

	"github.com/pipe-dev/pipe/stages/wasm/internal/interrupt"
)

// compile makes the stage's runtime and compiles bin in it. A stage whose
// calls must be interruptible (closeOnDone) gets the module rewritten by
// package interrupt, compiled without wazero's close-on-context-done; when
// the module cannot be rewritten, or the rewritten module does not compile,
// it falls back to close-on-context-done (with a log line). The returned
// runtime is the caller's to close, also when err (the compile error of
// the module as read) is not nil.
func (s *stage) compile(ctx context.Context, bin []byte) (wazero.Runtime, wazero.CompiledModule, error) {
	s.interruptible = false
	var why string // why the rewrite is not used
	if s.closeOnDone && !s.noRewrite && interrupt.Supported() {
		rw, err := interrupt.Rewrite(bin)
		if err == nil {
			rt := s.runtime(ctx, false)
			compiled, cerr := rt.CompileModule(ctx, rw)
			if cerr == nil {
				s.interruptible = true
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
		s.log.Warn("interrupting the module with wazero's close-on-context-done (slower): it cannot be rewritten", "path", s.path, "err", why)
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
