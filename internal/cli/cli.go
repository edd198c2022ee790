// Package cli implements the pipe command line.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/plugins"
	"github.com/pipe-dev/pipe/internal/suggest"
	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1   // a stage failed under on_error: fail, a plugin could not be restarted
	ExitUsage   = 2   // usage or configuration error
	ExitSIGHUP  = 129 // without --watch, SIGHUP drains and stops like SIGTERM
	ExitSIGINT  = 130
	ExitSIGTERM = 143
)

// signalExit is the exit status after sig stopped a run (128 + signal number).
func signalExit(sig os.Signal) int {
	switch sig {
	case syscall.SIGTERM:
		return ExitSIGTERM
	case syscall.SIGHUP:
		return ExitSIGHUP
	}
	return ExitSIGINT
}

// usageError marks command-line mistakes (exit 2).
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// app carries what the commands share.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	logLevel       string
	logFormat      string
	reg            *engine.Registry
	plug           pluginFlags
	signal         atomic.Value  // os.Signal that stopped the run
	drainTimeout   time.Duration // after the first signal, exit anyway (0: wait)
	exiting        bool          // the process exits with the command's code (MainExiting)
}

// Main runs the command line and returns the exit code.
func Main(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	return mainWith(engine.DefaultRegistry, args, stdin, stdout, stderr)
}

// MainExiting is Main for a process that exits with the code it returns
// right away (cmd/pipe): a run's SIGINT, SIGTERM and SIGHUP registrations
// are left for the exit instead of undone, since undoing each is a round
// trip with os/signal's thread on the way out (bench/NOTES.md). SIGPIPE's
// is still undone before the exit code's report, as Main does.
func MainExiting(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, reg: engine.DefaultRegistry, exiting: true}
	return a.execute(a.rootFor(args), args)
}

func mainWith(reg *engine.Registry, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, reg: reg}
	return a.execute(a.rootFor(args), args)
}

// execute runs args with the command tree root and returns the exit code.
func (a *app) execute(root *cobra.Command, args []string) int {
	a.logFormat = logFormatArg(args, a.logFormat)
	root.SetArgs(args)
	root.SetIn(a.stdin)
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	err := root.Execute()
	return a.exitCode(err)
}

// logFormatArg finds --log-format in args before they are parsed, so that
// an error in a flag before it is still reported in the format asked for.
func logFormatArg(args []string, def string) string {
	for i, arg := range args {
		switch {
		case arg == "--":
			return def
		case arg == "--log-format" && i+1 < len(args):
			def = args[i+1]
		case strings.HasPrefix(arg, "--log-format="):
			def = strings.TrimPrefix(arg, "--log-format=")
		}
	}
	return def
}

func (a *app) exitCode(err error) int {
	if sig, ok := a.signal.Load().(os.Signal); ok {
		if err != nil && !errors.Is(err, context.Canceled) {
			a.report(err, signalExit(sig))
		}
		return signalExit(sig)
	}
	if err == nil || engine.IsOutputClosed(err) {
		return ExitOK
	}
	switch {
	case errors.Is(err, errTestsFailed):
		return ExitFailure // the failures were reported case by case
	case errors.Is(err, errTestsConfig):
		return ExitUsage
	}
	code := ExitFailure
	var ce *engine.ConfigError
	var ue usageError
	switch {
	case errors.As(err, &ce), errors.As(err, &ue):
		code = ExitUsage
	}
	a.report(err, code)
	return code
}

func (a *app) report(err error, code int) {
	var ue usageError
	if errors.As(err, &ue) && !a.jsonLogs() {
		fmt.Fprintf(a.stderr, "pipe: %v\nRun 'pipe --help' for usage.\n", err)
		return
	}
	a.printErr(err, "exit_code", code)
}

// errorLines is err as "pipe: ..." lines: one per config error when a
// file has several (engine.ConfigErrors), else one.
func errorLines(err error) string {
	var list engine.ConfigErrors
	if errors.As(err, &list) && err.Error() == list.Error() {
		var b strings.Builder
		for _, ce := range list {
			fmt.Fprintf(&b, "pipe: %v\n", ce)
		}
		return b.String()
	}
	return fmt.Sprintf("pipe: %v\n", err)
}

func (a *app) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return nil, usagef("--log-level %q: want debug, info, warn or error", a.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch a.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(a.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(a.stderr, opts)), nil
	}
	return nil, usagef("--log-format %q: want text or json", a.logFormat)
}

const rootLong = `pipe runs streaming data pipelines: an input, a chain of stages, an output.
Every stage is a native Go transformer, a Lua or JavaScript script, a WASM
module or an out-of-process plugin, with the same semantics: emit, drop,
split, metadata, per-record errors and timeouts. Memory stays flat however
large the input.`

const rootExample = `  # run a pipeline file
  pipe run pipelines/error-digest.yaml

  # filter mode, like jq or grep: stages from flags, stdin to stdout
  printf 'a\nb\n' | pipe run --native case --config to=upper

  # check a pipeline without running it
  pipe lint pipelines/*.yaml`

// subcommands are pipe's commands, in the order pipe --help lists them.
var subcommands = []struct {
	name  string
	build func(*app) *cobra.Command
}{
	{"run", (*app).runCmd}, {"lint", (*app).lintCmd}, {"test", (*app).testCmd}, {"bench", (*app).benchCmd},
	{"plugins", (*app).pluginsCmd}, {"schema", (*app).schemaCmd}, {"version", (*app).versionCmd},
	{"stages", (*app).stagesCmd}, {"docs", (*app).docsCmd},
}

// rootCmd is pipe's whole command tree.
func (a *app) rootCmd() *cobra.Command { return a.rootFor(nil) }

// rootFor is the command tree that runs args: when args[0] names one of
// pipe's commands, the root with that command alone (cobra only looks at
// the command args name: its flags, help and errors are the same), else
// the whole tree, for help, completion, suggestions and flags before the
// command. Building every command, its flags and the completion command
// was about 0.3 ms of every start (bench/NOTES.md).
func (a *app) rootFor(args []string) *cobra.Command {
	root := a.newRoot()
	if len(args) > 0 {
		for _, c := range subcommands {
			if c.name == args[0] {
				root.AddCommand(c.build(a))
				// Completion goes through the whole tree (args[0] is
				// __complete or completion), so this one needs none.
				root.CompletionOptions.DisableDefaultCmd = true
				return root
			}
		}
	}
	for _, c := range subcommands {
		root.AddCommand(c.build(a))
	}
	a.addCompletions(root)
	return root
}

func (a *app) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "pipe",
		Short:         "streaming data pipelines with pluggable stages",
		Long:          rootLong,
		Example:       rootExample,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", "text", "log format on stderr: text or json")
	a.plug.add(root)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	// Runnable, so that an unknown command is a usage error (exit 2) too.
	root.Args = cobra.ArbitraryArgs
	root.SuggestionsMinimumDistance = 2
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf(" (did you mean %q?)", s[0])
		}
		return usagef("%s", msg)
	}
	return root
}

// usageArgs makes a cobra argument check's complaint a usage error (exit 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usagef("%s: %v", strings.TrimPrefix(cmd.CommandPath(), "pipe "), err)
		}
		return nil
	}
}

func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments, got %q", cmd.CommandPath(), args)
	}
	return nil
}

// HostAPIVersion is the version of the stage contract that plugins are
// checked against.
const HostAPIVersion = plugins.HostAPIVersion

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "print the version, commit, build date, Go version and host API version",
		Example: "  pipe version",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			printVersion(a.stdout, a.reg.Kinds())
			return nil
		},
	}
}

func (a *app) stagesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "stages [NAME...]",
		Short: "list the components of this binary, or print the reference of one",
		Long: `Without NAME, list the inputs, codecs, stage kinds, native transformers and
outputs compiled into this binary. With NAME (select, file, ndjson, a kind, or
CLASS/NAME such as output/file), print its reference: what it does, its
options (name, type, default, allowed values, example, description) and
examples. pipe docs NAME is the same.`,
		Example: "  pipe stages\n  pipe stages select\n  pipe stages output/file",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return a.listComponents()
			}
			return a.printComponents(args)
		},
	}
}

func (a *app) docsCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "docs NAME...",
		Short: "print the reference of a component (a native transformer, kind, input, output or codec)",
		Long: `Print the reference of a component: what it does, its options (name, type,
default, allowed values, example, description) and examples. NAME is a
component's name (select, file, ndjson, a kind) or CLASS/NAME (output/file).
The same pages are in docs/reference of the repository.`,
		Example: "  pipe docs select\n  pipe docs output/file",
		Args:    usageArgs(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.printComponents(args)
		},
	}
}

// listComponents prints every component, by class, with its summary.
func (a *app) listComponents() error {
	var b strings.Builder
	fmt.Fprintf(&b, "stage kinds: %s\n", strings.Join(a.reg.Kinds(), ", "))
	titles := map[component.Class]string{
		component.ClassInput:  "inputs (input: {type: NAME})",
		component.ClassCodec:  "codecs (codec: NAME)",
		component.ClassKind:   "stage kinds (type: NAME)",
		component.ClassNative: "native transformers (type: native, use: NAME)",
		component.ClassOutput: "outputs (output: {type: NAME})",
	}
	for _, class := range []component.Class{component.ClassKind, component.ClassNative, component.ClassInput, component.ClassOutput, component.ClassCodec} {
		specs := a.reg.SpecsOf(class)
		if len(specs) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s:\n", titles[class])
		for _, s := range specs {
			fmt.Fprintf(&b, "  %-9s %s\n", s.Name, s.Summary)
		}
	}
	b.WriteString("\npipe stages NAME prints a component's options.\n")
	_, err := io.WriteString(a.stdout, b.String())
	return err
}

// printComponents prints the reference of each named component.
func (a *app) printComponents(args []string) error {
	for i, name := range args {
		specs := a.reg.Lookup(name)
		if len(specs) == 0 {
			var all []string
			for _, s := range a.reg.Specs() {
				all = append(all, s.Name)
			}
			msg := fmt.Sprintf("no component named %q", name)
			if s := suggest.Closest(name, all); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return usagef("%s; pipe stages lists them", msg)
		}
		for j, s := range specs {
			if i > 0 || j > 0 {
				fmt.Fprintln(a.stdout)
			}
			if err := s.WriteText(a.stdout); err != nil {
				return err
			}
		}
	}
	return nil
}

// signalContext returns a context cancelled by the first SIGINT or SIGTERM
// (stop reading, drain, flush); a second signal exits at once. Unless hup is
// false (--watch, where SIGHUP reloads), SIGHUP stops the run the same way,
// so a closed terminal or a stray `kill -HUP` never loses records in flight.
func (a *app) signalContext(log *slog.Logger, hup bool) (context.Context, func()) {
	return a.armedContext(log, armSignals(hup))
}

// armedSignals are the channels of a run's signals, registered with
// os/signal by armSignals on another goroutine.
type armedSignals struct {
	ch, pipeCh chan os.Signal
	ready      chan struct{} // closed once both are registered
	taken      bool          // armedContext owns them
}

// armSignals registers the signals signalContext handles on a goroutine of
// its own and returns at once: os/signal's first registration starts a
// thread for itself and each signal is a round trip with it (150-250 µs of
// every start on the shared 2-core machine; bench/NOTES.md), which then
// overlaps reading and building the pipeline. armedContext waits for it.
func armSignals(hup bool) *armedSignals {
	s := &armedSignals{ch: make(chan os.Signal, 2), pipeCh: make(chan os.Signal, 1), ready: make(chan struct{})}
	sigs := []os.Signal{os.Interrupt, syscall.SIGTERM}
	if hup {
		sigs = append(sigs, syscall.SIGHUP)
	}
	go func() {
		defer close(s.ready)
		signal.Notify(s.ch, sigs...)
		// With SIGPIPE notified, a write to a closed stdout returns EPIPE
		// instead of killing the process, so `pipe ... | head -1` ends quietly.
		signal.Notify(s.pipeCh, syscall.SIGPIPE)
	}()
	return s
}

// release unregisters s unless armedContext took it (whose stop does);
// with exiting, only SIGPIPE (see MainExiting).
func (s *armedSignals) release(exiting bool) {
	if s.taken {
		return
	}
	<-s.ready
	if !exiting {
		signal.Stop(s.ch)
	}
	signal.Stop(s.pipeCh)
}

// armedContext is signalContext with its signals armed by armSignals;
// the signals are registered when it returns.
func (a *app) armedContext(log *slog.Logger, s *armedSignals) (context.Context, func()) {
	<-s.ready
	s.taken = true
	ctx, cancel := context.WithCancel(context.Background())
	ch, pipeCh := s.ch, s.pipeCh
	done := make(chan struct{})
	go func() {
		var first os.Signal
		select {
		case first = <-ch:
			a.signal.Store(first)
			log.Info("signal received: stopping input, draining records in flight", "signal", first.String())
			cancel()
		case <-done:
			return
		}
		// The drain bound: a record stuck in a stage without a timeout
		// (timeout: 0) must not keep pipe running after a signal.
		var bound <-chan time.Time
		if a.drainTimeout > 0 {
			bound = time.After(a.drainTimeout)
		}
		select {
		case sig := <-ch:
			a.printErr(errors.New("second signal, exiting without draining"))
			os.Exit(signalExit(sig))
		case <-bound:
			a.printErr(fmt.Errorf("records in flight were not drained within --drain-timeout %v (a stage without a timeout is stuck?): exiting without them", a.drainTimeout))
			os.Exit(signalExit(first))
		case <-done:
		}
	}()
	return ctx, func() {
		close(done)
		if !a.exiting { // see MainExiting
			signal.Stop(ch)
		}
		signal.Stop(pipeCh)
		cancel()
	}
}

func (a *app) schemaCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "schema",
		Short: "print a JSON Schema of the pipeline file, for editors",
		Long: `Print a JSON Schema (draft 2020-12) of the pipeline file. Editors use it to
complete and check pipeline files, e.g. with the YAML language server:
a first line "# yaml-language-server: $schema=pipeline.schema.json".`,
		Example: "  pipe schema > pipeline.schema.json",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := engine.PipelineSchema(a.reg)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s\n", b)
			return err
		},
	}
}
