// Package isolate runs stages of `isolation: process` in a supervised child
// process: pipe's own binary, re-executed in a hidden mode in which it
// serves the one stage over the rpc kind's protocol (stages/rpc), so that
// the rpc supervision applies to it unchanged: restarts with backoff and
// max_restarts, a crash that loses no record, Pdeathsig, timeouts and
// batch deadlines. On Linux the child's data segment is limited
// (RLIMIT_DATA) to what it uses once the stage is open plus the stage's
// memory_limit, so a script that runs out of memory kills only its child:
// its record fails with ErrMemoryLimit (under the stage's on_error) and the
// next record gets a fresh child. Importing the package installs the
// isolator in engine.DefaultRegistry.
//
// # The child
//
// A program that runs isolated stages calls ServeIfChild first thing in
// main (cmd/pipe does, and so does the TestMain of a test that runs one):
// started as a child, the binary serves the stage there and never returns
// to main. The child builds the stage with the same kinds as the parent
// (engine.Registry.BuildDescribed), from the description the parent sends
// in Open; its environment is PATH and the handshake only.
//
// # Lifecycle
//
// Build builds the stage with its kind in the parent as well, to check its
// fields with positions, but never loads or runs it there. Load starts the
// first child (so `pipe lint` compiles and loads the script in a child and
// reports its errors as configuration errors); each worker has its own
// child.
package isolate

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/script"
	"github.com/pipe-dev/pipe/stages/rpc"
)

func init() { engine.SetIsolator(Build) }

// ErrMemoryLimit is the error of a record whose child process ran out of
// its memory limit. It is the script kinds' error of the same name.
var ErrMemoryLimit = script.ErrMemoryLimit

// envChild marks the environment of a child process.
const envChild = "PIPE_ISOLATED_STAGE"

// MemoryBounded is implemented by stages with a memory_limit (lua, js):
// the limit becomes the child's OS limit, and the child turns the stage's
// own in-process guard off (UseProcessLimit), since the OS limit replaces
// it.
type MemoryBounded interface {
	MemoryBound() int64
	UseProcessLimit()
}

// childConfig is what the parent sends the child in Open.
type childConfig struct {
	Stage engine.StageDescriptor `json:"stage"`
	// MemoryLimit is the bytes of data the child may map once the stage
	// is open (0: no limit).
	MemoryLimit int64 `json:"memory_limit"`
}

// Build is the engine.Isolator: it runs spec's stage (built by its kind as
// inner, not loaded) in supervised child processes.
func Build(spec *engine.StageSpec, env *engine.BuildEnv, inner engine.Stage) (engine.Stage, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, spec.Errorf("isolation", "isolation: process re-executes pipe, whose path is unknown: %v", err)
	}
	cfg := childConfig{Stage: spec.Describe(env)}
	if m, ok := inner.(MemoryBounded); ok {
		cfg.MemoryLimit = m.MemoryBound()
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("isolation: %w", err)
	}
	limit := "no memory limit"
	if cfg.MemoryLimit > 0 {
		limit = fmt.Sprintf("memory_limit %s", engine.ByteSize(cfg.MemoryLimit))
	}
	return rpc.NewChild(spec, env, rpc.Child{
		Path:        exe,
		Env:         map[string]string{envChild: "1", "GOTRACEBACK": "none"},
		Config:      js,
		Label:       fmt.Sprintf("isolated %s process of stage %s", spec.Type, spec.Name),
		RecordError: recordError,
		Fault: func(line string) error {
			if outOfMemory(line) {
				return fmt.Errorf("%w: the isolated process ran out of its %s and was replaced", ErrMemoryLimit, limit)
			}
			return nil
		},
	})
}

// outOfMemory reports whether a line of a child's stderr is the Go
// runtime's report of a failed allocation (it then exits): "fatal error:
// out of memory", "runtime: out of memory: cannot allocate ...",
// "fatal error: runtime: cannot allocate memory", or of a thread it could
// not start because the thread's stack is data too ("runtime/cgo:
// pthread_create failed: Resource temporarily unavailable", "runtime:
// failed to create new OS thread"), or of a sanitizer's shadow memory
// ("==PID==ERROR: ThreadSanitizer failed to allocate ... (errno: 12)", a
// binary built with -race).
func outOfMemory(line string) bool {
	switch {
	case strings.Contains(line, "failed to allocate") && strings.Contains(line, "(errno: 12)"):
		return true
	case strings.HasPrefix(line, "fatal error: "):
		return strings.Contains(line, "out of memory") || strings.Contains(line, "cannot allocate memory")
	case strings.HasPrefix(line, "runtime: out of memory"),
		strings.HasPrefix(line, "runtime/cgo: pthread_create failed"),
		strings.HasPrefix(line, "runtime: failed to create new OS thread"):
		return true
	}
	return false
}

// recordError types the error of a record the child failed: a timeout
// (the child's record deadline, see child.bounded) is ErrStageTimeout, as
// in the process.
func recordError(msg string) error {
	if rest, ok := strings.CutPrefix(msg, engine.ErrStageTimeout.Error()); ok {
		return fmt.Errorf("%w%s", engine.ErrStageTimeout, rest)
	}
	return errors.New(msg)
}
