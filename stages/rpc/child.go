package rpc

import (
	"errors"
	"io"
	"log/slog"

	"github.com/pipe-dev/pipe/engine"
)

// Child describes a process that is not an rpc plugin of the user's but
// serves a stage over the same protocol, under the same supervision
// (restarts with backoff and max_restarts, crash isolation, Pdeathsig,
// timeouts, batch deadlines): the child of a stage of isolation: process
// (package stages/isolate), which is pipe itself, re-executed.
type Child struct {
	// Path is the executable (os.Executable()); Args and Env its arguments
	// and environment (besides PATH and go-plugin's handshake variables).
	Path string
	Args []string
	Env  map[string]string
	// Config is what Open sends (OpenRequest.config_json).
	Config []byte
	// Label names the process in errors ("isolated js process").
	Label string
	// Fault, if not nil, is asked about every line the child writes to
	// stderr: a non-nil error means the child is dying of the records it
	// was given (out of memory under its OS limit). The records then fail
	// with that error instead of being re-sent to a fresh process, and
	// the restart is not counted against max_restarts.
	Fault func(line string) error
	// RecordError, if not nil, makes the error of a record the child
	// failed from its message, so that the child's typed errors (a
	// timeout) stay typed; nil: errors.New(msg).
	RecordError func(msg string) error
}

// NewChild builds the stage that runs spec's stage in the child process c
// describes. The child's binary is not pinned or hashed (it is the host's
// own); a configuration error the child reports (its Open failed) is
// returned as the child words it, a *engine.ConfigError.
func NewChild(spec *engine.StageSpec, env *engine.BuildEnv, c Child) (engine.Stage, error) {
	if c.Path == "" {
		return nil, errors.New("rpc.NewChild: no executable")
	}
	s := &stage{spec: spec, path: c.Path, opts: options{Args: c.Args, Env: c.Env}, codec: env.Codec,
		log: env.Logger, events: env.Events, config: c.Config, child: &c, label: c.Label,
		startTO: DefaultStartTimeout, health: DefaultHealthInterval, retries: DefaultMaxRestarts, window: DefaultRestartWindow}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.label == "" {
		s.label = "process " + c.Path
	}
	return s, nil
}
