package interrupt

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/tetratelabs/wazero/api"
	"golang.org/x/sys/cpu"
)

// Flag is the interrupt flag of one instance of a rewritten module.
//
// The watchdog side (a context.AfterFunc callback) and the calling side set
// the global only under mu, and nothing in Go reads it, so the race
// detector sees only ordered Go writes. The guest reads the global from
// compiled code, which the race detector does not instrument (and which
// never writes it): wazero's compiler keeps a module's globals in the
// instance's context buffer, SetGlobalValue stores a whole aligned 64-bit
// word there, and the compiled code loads it with one instruction, so the
// guest sees either the old or the new value (no tearing), and sees the new
// one at its next tick (a store is not held back indefinitely on amd64 or
// arm64; the tick's exit to Go is a full barrier besides). The flag only
// goes from 0 to 1 while the guest runs; it is cleared after the call has
// returned. The guest traps at its next tick after the flag is set.
type Flag struct {
	g     api.MutableGlobal
	mu    sync.Mutex
	gen   uint64 // calls armed; a late callback of an older call is ignored
	fired bool   // the flag was set during the current call
}

// New returns the flag of mod, an instance of a module made by Rewrite.
func New(mod api.Module) (*Flag, error) {
	g, ok := mod.ExportedGlobal(FlagExport).(api.MutableGlobal)
	if !ok || g.Type() != api.ValueTypeI32 {
		return nil, fmt.Errorf("module does not export the mutable i32 global %s (not rewritten?)", FlagExport)
	}
	return &Flag{g: g}, nil
}

// Arm sets the flag as soon as ctx is done (at once if it already is),
// until the returned disarm is called; disarm clears the flag and reports
// whether it was set. Every Arm must be followed by its disarm before the
// next Arm, on the goroutine that calls the guest.
func (f *Flag) Arm(ctx context.Context) (disarm func() (fired bool)) {
	f.mu.Lock()
	f.gen++
	gen := f.gen
	f.mu.Unlock()
	if ctx.Done() == nil {
		return f.disarm
	}
	if ctx.Err() != nil {
		f.set(gen)
		return f.disarm
	}
	stop := context.AfterFunc(ctx, func() { f.set(gen) })
	return func() bool {
		stop()
		return f.disarm()
	}
}

func (f *Flag) set(gen uint64) {
	f.mu.Lock()
	if f.gen == gen && !f.fired {
		f.fired = true
		f.g.Set(1)
	}
	f.mu.Unlock()
}

func (f *Flag) disarm() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gen++
	fired := f.fired
	if fired {
		f.fired = false
		f.g.Set(0)
	}
	return fired
}

// Supported reports whether wazero runs modules with its compiler on this
// platform (arm64, or amd64 with SSE4.1, on the operating systems it
// supports), where
// the guest reads the flag from compiled code. wazero's interpreter reads
// globals from Go code, where a flag set by another goroutine would be a
// data race: callers there keep wazero's close-on-context-done.
func Supported() bool {
	switch runtime.GOOS {
	case "linux", "darwin", "freebsd", "netbsd", "windows":
		if runtime.GOARCH == "arm64" {
			return true
		}
		fallthrough
	case "dragonfly", "solaris", "illumos":
		return runtime.GOARCH == "amd64" && cpu.X86.HasSSE41
	}
	return false
}
