package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// filterStage is one stage given on the command line, in order.
type filterStage struct {
	kind, flag, arg string
	config          []string
	args            []string // --arg: the plugin's command-line arguments (rpc)
}

// stageFlag appends to the shared, ordered list of filter stages; the
// kind's FilterFlag says what it takes.
type stageFlag struct {
	kind, flag string
	spec       *engine.FilterFlag
	list       *[]filterStage
}

func (f *stageFlag) String() string { return "" }
func (f *stageFlag) Type() string   { return f.spec.Value }
func (f *stageFlag) Set(v string) error {
	*f.list = append(*f.list, filterStage{kind: f.kind, flag: f.flag, arg: v})
	return nil
}

// configFlag adds KEY=VALUE (or a YAML mapping) to the last filter stage.
type configFlag struct{ list *[]filterStage }

// argFlag adds a command-line argument to the last filter stage, whose
// kind takes them (FilterFlag.Args).
type argFlag struct {
	list *[]filterStage
	reg  *engine.Registry
}

func (f *argFlag) String() string { return "" }
func (f *argFlag) Type() string   { return "ARG" }
func (f *argFlag) Set(v string) error {
	if len(*f.list) == 0 || argsField(f.reg, (*f.list)[len(*f.list)-1].kind) == "" {
		var takers []string
		for _, k := range f.reg.KindSpecs() {
			if k.Flag != nil && k.Flag.Args != "" {
				takers = append(takers, "--"+k.Name)
			}
		}
		if len(takers) == 0 {
			return errors.New("--arg: no stage kind of this build takes arguments")
		}
		return fmt.Errorf("--arg must follow the stage flag it is for (%s), e.g. %s ./plugin --arg=--fast",
			strings.Join(takers, ", "), takers[0])
	}
	s := &(*f.list)[len(*f.list)-1]
	s.args = append(s.args, v)
	return nil
}

func (f *configFlag) String() string { return "" }
func (f *configFlag) Type() string   { return "KEY=VALUE" }
func (f *configFlag) Set(v string) error {
	if len(*f.list) == 0 {
		return errors.New("--config must follow the stage flag it configures (e.g. --native case --config to=upper)")
	}
	s := &(*f.list)[len(*f.list)-1]
	s.config = append(s.config, v)
	return nil
}

type runFlags struct {
	drainTimeout  time.Duration
	input, output string
	codec         string
	stats         string // "", "text" (--stats) or "json" (--stats=json)
	stages        []filterStage
	timeout       string
	onError       string
	workers       int
	metricsAddr   string
	prof          profileFlags
	dryRun        bool
	progress      bool
	noProgress    bool
	watch         bool
}

const runExample = `  # a pipeline file, with its input and output replaced
  pipe run pipelines/error-digest.yaml --input app.log --output errors.ndjson

  # filter mode: stages from flags, in order, stdin to stdout
  tail -f app.log | pipe run --codec ndjson --native select --config field=level --config equals=error
  printf 'x\ny\n' | pipe run --native case --config to=upper --native grep --config pattern=X

  # per-stage counts and latency on stderr
  pipe run pipelines/error-digest.yaml --stats`

func (a *app) runCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [FILE]",
		Short: "run a pipeline file, or stages given as flags (filter mode)",
		Long: `Run a pipeline file, or, without FILE, the stages given as flags in order,
reading stdin and writing stdout (filter mode). Logs go to stderr only.

Exit status: 0 success, 1 a stage failed (on_error: fail) or a plugin could not
be restarted, 2 usage or configuration error, 130/143 after SIGINT/SIGTERM once
the records in flight are written.`,
		Example: runExample,
		Args:    usageArgs(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			file := ""
			if len(args) == 1 {
				file = args[0]
			}
			return a.run(file, f)
		},
	}
	fl := cmd.Flags()
	fl.SortFlags = false
	fl.StringVarP(&f.input, "input", "i", "", "read this file or glob instead of the pipeline's input (- for stdin)")
	fl.StringVarP(&f.output, "output", "o", "", "write this file instead of the pipeline's output (- for stdout)")
	fl.StringVar(&f.stats, "stats", "", "print per-stage counts and latency to stderr at the end; --stats=json as one JSON line (the default under --log-format json)")
	fl.Lookup("stats").NoOptDefVal = "text"
	fl.BoolVar(&f.progress, "progress", false, "show a progress line on stderr (default: when stderr is a terminal and the input is files)")
	fl.BoolVar(&f.noProgress, "no-progress", false, "never show a progress line")
	fl.DurationVar(&f.drainTimeout, "drain-timeout", 30*time.Second, "after SIGINT, SIGTERM or SIGHUP, exit even if records in flight are not written by then (0: wait for them)")
	fl.BoolVar(&f.watch, "watch", false, "reload the pipeline when it or a file it uses changes (also on SIGHUP), without losing a record; a bad edit is rejected")
	fl.BoolVar(&f.dryRun, "dry-run", false, "load, lint and print the resolved pipeline (defaults, environment, paths) without reading input")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "", "serve Prometheus /metrics, /healthz and /readyz on this address (e.g. 127.0.0.1:9090; :9090 listens on every interface)")
	for _, k := range a.reg.KindSpecs() { // each kind says its filter-mode flag
		if k.Flag != nil && k.Flag.Set != nil && fl.Lookup(k.Name) == nil {
			fl.Var(&stageFlag{kind: k.Name, flag: k.Name, spec: k.Flag, list: &f.stages}, k.Name, k.Flag.Usage)
		}
	}
	f.prof.add(cmd)
	fl.Var(&configFlag{list: &f.stages}, "config", "filter mode: config for the preceding stage, KEY=VALUE or a YAML mapping (repeatable)")
	fl.Var(&argFlag{list: &f.stages, reg: a.reg}, "arg", "filter mode: a command-line argument for the preceding stage, if its kind takes them (repeatable; --arg=--flag for flags)")
	fl.StringVar(&f.codec, "codec", "", "filter mode: lines (default), ndjson or raw")
	fl.StringVar(&f.timeout, "timeout", "", "filter mode: per-record timeout of each stage (default 5s, 0 = none)")
	fl.StringVar(&f.onError, "on-error", "", "filter mode: fail (default), drop")
	fl.IntVar(&f.workers, "workers", 0, "filter mode: workers per stage (default 1)")
	return cmd
}

func (a *app) run(file string, f *runFlags) error {
	log, err := a.logger()
	if err != nil {
		return err
	}
	if f.stats != "" && f.stats != "text" && f.stats != "json" {
		return usagef("--stats=%s: want --stats or --stats=json", f.stats)
	}
	// Registered while the pipeline is read and built; a signal from here
	// on stops the run as it would once it runs (see armSignals).
	armed := armSignals(!f.watch)
	defer armed.release(a.exiting)
	spec, err := a.spec(file, f)
	if err != nil {
		return err
	}
	if writesStdout(spec) && stdoutClosed(a.stdout) {
		return usagef("standard output is closed (as with >&-): every record would be lost; redirect it (> FILE, > /dev/null) or give --output FILE")
	}
	audit, err := a.openAudit()
	if err != nil {
		return err
	}
	defer audit.close()
	p, err := a.build(spec, log, audit)
	if err != nil {
		return err
	}
	defer p.Close()
	if f.dryRun {
		if err := p.Load(context.Background()); err != nil {
			return err
		}
		out, err := p.Plan().YAML()
		if err != nil {
			return err
		}
		_, err = a.stdout.Write(out)
		return err
	}
	if f.metricsAddr != "" {
		stopMetrics, err := serveMetrics(f.metricsAddr, p, pipelineName(spec, file), log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	a.drainTimeout = f.drainTimeout
	ctx, stop := a.armedContext(log, armed)
	defer stop()
	if f.progress && f.noProgress {
		return usagef("--progress and --no-progress contradict each other")
	}
	stopProgress := func() {}
	if f.progress || (!f.noProgress && (spec.Input.Type == "file" || isRegularFile(a.stdin)) && isTerminal(a.stderr)) {
		if a.jsonLogs() {
			stopProgress = showProgressJSON(a.jsonLine(), p, time.Second)
		} else {
			stopProgress = showProgress(a.stderr, p, 250*time.Millisecond)
		}
	}
	stopProf, err := f.prof.start()
	if err != nil {
		return err
	}
	start := time.Now()
	if f.watch {
		if file == "" {
			return usagef("--watch needs a pipeline FILE")
		}
		err = a.runLive(ctx, file, f, p, log, audit)
	} else {
		err = p.Run(ctx, a.stdin, a.stdout)
	}
	stopProgress()
	if perr := stopProf(); err == nil {
		err = perr
	}
	switch {
	case f.stats == "json" || (f.stats != "" && a.jsonLogs()):
		a.printStatsJSON(pipelineName(spec, file), p.Stats(), time.Since(start))
	case f.stats != "":
		printStats(a.stderr, p.Stats(), time.Since(start))
	}
	if aerr := audit.err(); err == nil && aerr != nil {
		err = aerr // events were lost: exit 1, after the run
	}
	return err
}

// spec loads FILE or builds the filter-mode pipeline, then applies the
// --input and --output overrides.
func (a *app) spec(file string, f *runFlags) (*engine.Spec, error) {
	var spec *engine.Spec
	if file != "" {
		if len(f.stages) > 0 || f.codec != "" || f.timeout != "" || f.onError != "" || f.workers != 0 {
			return nil, usagef("stage flags (%s, --codec, --timeout, --on-error, --workers) are for filter mode, without a pipeline FILE", stageFlagList(a.reg))
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, &engine.ConfigError{Msg: fmt.Sprintf("read pipeline: %v", err), Err: err}
		}
		if spec, err = engine.Parse(data, file, engine.WithRegistry(a.reg)); err != nil {
			return nil, err
		}
	} else {
		// Without stage flags, filter mode passes records through (like
		// cat, with the codec's checks: pipe run --codec ndjson validates).
		var err error
		if spec, err = filterSpec(a.reg, f); err != nil {
			return nil, err
		}
	}
	override(&spec.Input.Type, &spec.Input.Path, "stdin", f.input)
	override(&spec.Output.Type, &spec.Output.Path, "stdout", f.output)
	return spec, nil
}

// override applies --input or --output: "-" is the standard stream, any
// other value a file path, relative to the working directory (not to the
// pipeline file, as paths inside the file are).
func override(typ, path *string, std, flag string) {
	switch flag {
	case "":
	case "-":
		*typ, *path = std, ""
	default:
		*typ, *path = "file", flag
		if !filepath.IsAbs(flag) {
			if wd, err := os.Getwd(); err == nil {
				*path = filepath.Join(wd, flag)
			}
		}
	}
}

func filterSpec(reg *engine.Registry, f *runFlags) (*engine.Spec, error) {
	spec := &engine.Spec{Input: engine.InputSpec{Codec: f.codec}, Output: engine.OutputSpec{Codec: f.codec}}
	if f.timeout != "" {
		d, err := time.ParseDuration(f.timeout)
		if f.timeout == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 {
			return nil, usagef("--timeout %q: want a duration such as 250ms or 5s", f.timeout)
		}
		spec.Defaults.Timeout = &d
	}
	switch f.onError {
	case "", engine.OnErrorFail, engine.OnErrorDrop:
		spec.Defaults.OnError = f.onError
	default:
		return nil, usagef("--on-error %q: want fail or drop (dead_letter needs a pipeline file)", f.onError)
	}
	if f.workers < 0 || f.workers > engine.MaxWorkers {
		return nil, usagef("--workers %d: want 1 to %d", f.workers, engine.MaxWorkers)
	}
	spec.Defaults.Workers = f.workers
	for i, fs := range f.stages {
		s := engine.StageSpec{Name: fmt.Sprintf("%s-%d", fs.flag, i+1), Type: fs.kind}
		if k, ok := reg.KindSpec(fs.kind); ok && k.Flag != nil {
			k.Flag.Set(&s, fs.arg)
		}
		cfg, err := parseConfigFlags(fs.config)
		if err != nil {
			return nil, usagef("--%s %s: %v", fs.flag, fs.arg, err)
		}
		if cfg != nil {
			s.Config = engine.ConfigOf(cfg)
		}
		if len(fs.args) > 0 {
			s.Extra = engine.ConfigOf(map[string]any{argsField(reg, fs.kind): fs.args})
		}
		spec.Stages = append(spec.Stages, s)
	}
	return spec, nil
}

// parseConfigFlags turns KEY=VALUE pairs and YAML mappings into one map;
// values are read as YAML scalars (so 3 is a number, true a boolean).
func parseConfigFlags(items []string) (map[string]any, error) {
	if len(items) == 0 {
		return nil, nil
	}
	out := map[string]any{}
	for _, it := range items {
		if k, v, ok := strings.Cut(it, "="); ok && !strings.HasPrefix(strings.TrimSpace(it), "{") {
			if k == "" {
				return nil, fmt.Errorf("--config %q: empty key", it)
			}
			val, err := scalar(v)
			if err != nil {
				return nil, err
			}
			out[k] = val
			continue
		}
		spec, err := engine.Parse([]byte("tests: "+it), "--config")
		if err != nil {
			return nil, fmt.Errorf("--config %q: want KEY=VALUE or a YAML mapping", it)
		}
		m, err := spec.Tests.Value()
		mm, ok := m.(map[string]any)
		if err != nil || !ok {
			return nil, fmt.Errorf("--config %q: want KEY=VALUE or a YAML mapping", it)
		}
		for k, v := range mm {
			out[k] = v
		}
	}
	return out, nil
}

// scalar reads a --config value as YAML would (numbers, booleans) and
// falls back to the string.
func scalar(v string) (any, error) {
	if plainWord(v) {
		return v, nil // what YAML reads as this string: skip the parser
	}
	return parseScalar(v)
}

// parseScalar is scalar through the YAML parser.
func parseScalar(v string) (any, error) {
	spec, err := engine.Parse([]byte("tests: "+quoteIfNeeded(v)), "--config")
	if err != nil {
		return v, nil
	}
	x, err := spec.Tests.Value()
	if err != nil || x == nil {
		return v, nil
	}
	return x, nil
}

// plainWord reports whether YAML reads v as the string v: ASCII letters
// (and '_', '-' after the first) that are not one of YAML 1.1's or 1.2's
// booleans or null, in any case. Anything else goes through the parser.
func plainWord(v string) bool {
	if v == "" {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && (c == '_' || c == '-'):
		default:
			return false
		}
	}
	switch strings.ToLower(v) {
	case "true", "false", "yes", "no", "on", "off", "y", "n", "null":
		return false
	}
	return true
}

func quoteIfNeeded(v string) string {
	if t := strings.TrimSpace(v); strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") {
		return v // a YAML flow mapping or list
	}
	if v == "" || strings.ContainsAny(v, ":#{}[],&*!|>'\"%@`\n") || strings.TrimSpace(v) != v {
		return fmt.Sprintf("%q", v)
	}
	return v
}

func printStats(w io.Writer, stats []engine.StageStats, elapsed time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tkind\tin\tout\tdropped\terrors\tnot processed\tdead-lettered\ttimeouts\trestarts\tbusy\tavg/record\tp50/p99 batch\t")
	for _, s := range stats {
		kind := s.Kind
		if kind == "" {
			kind = "-"
		}
		if s.Plugin != "" {
			kind += " " + s.Plugin
		}
		avg := "-"
		if s.In > 0 && s.Busy > 0 {
			avg = (time.Duration(s.Busy) / time.Duration(s.In)).String()
		}
		busy := "-"
		if s.Busy > 0 {
			busy = time.Duration(s.Busy).Round(time.Microsecond).String()
		}
		pct := "-"
		if s.BatchLatency != nil {
			pct = percentile(s.BatchLatency, 0.5) + "/" + percentile(s.BatchLatency, 0.99)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", s.Name, kind, s.In, s.Out, s.Dropped, s.Errors, s.NotProcessed, s.DeadLettered, s.Timeouts, s.Restarts, busy, avg, pct)
	}
	tw.Flush()
	in := stats[0].In
	rate := float64(in) / elapsed.Seconds()
	fmt.Fprintf(w, "%d records in %s (%.0f records/s)\n", in, elapsed.Round(time.Millisecond), rate)
}

// percentile returns the bucket bound under which fraction q of the
// batches fell ("<=1ms"), from a StageStats latency histogram.
func percentile(counts []int64, q float64) string {
	i := percentileBucket(counts, q)
	switch {
	case i < 0:
		return "-"
	case i < len(engine.LatencyBuckets):
		return "≤" + engine.LatencyBuckets[i].String()
	}
	return ">" + engine.LatencyBuckets[len(engine.LatencyBuckets)-1].String()
}

// percentileBucket returns the index of the latency bucket under which
// fraction q of the batches fell (len(engine.LatencyBuckets) for the
// slower ones), -1 without batches.
func percentileBucket(counts []int64, q float64) int {
	var total int64
	for _, c := range counts {
		total += c
	}
	if total == 0 {
		return -1
	}
	want := int64(float64(total)*q + 0.999999)
	var seen int64
	for i, c := range counts {
		seen += c
		if seen >= want {
			return min(i, len(engine.LatencyBuckets))
		}
	}
	return -1
}

var _ pflag.Value = (*stageFlag)(nil)

func (a *app) lintCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lint FILE...",
		Short: "check pipeline files: config, and load and compile every stage without running it",
		Long: `Check pipeline files: parse them strictly, build every stage, and load and
compile its script, module or plugin, without reading any input.
Exit status 2 if any file has an error.`,
		Example: "  pipe lint pipelines/*.yaml",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("pipe lint needs at least one pipeline FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := a.logger()
			if err != nil {
				return err
			}
			audit, err := a.openAudit() // lint loads plugins (and starts rpc ones)
			if err != nil {
				return err
			}
			defer audit.close()
			var errs []error
			for _, file := range args {
				var p *engine.Pipeline
				spec, err := a.parseFile(file)
				if err == nil {
					p, err = a.build(spec, log, audit)
				}
				if err == nil {
					err = p.Load(context.Background())
					p.Close()
				}
				if err != nil {
					if len(args) > 1 {
						a.printErr(err)
					}
					errs = append(errs, err)
					continue
				}
				fmt.Fprintf(a.stdout, "ok  %s (%d stages)\n", file, len(p.Spec().Stages))
			}
			switch {
			case len(errs) == 1 && len(args) == 1:
				return errs[0]
			case len(errs) > 0:
				return &engine.ConfigError{Msg: fmt.Sprintf("%d of %d pipeline files have errors", len(errs), len(args))}
			}
			return audit.err() // events lost: exit 1
		},
	}
}

// argsField is the kind's field that --arg fills ("" if it takes none).
func argsField(reg *engine.Registry, kind string) string {
	if k, ok := reg.KindSpec(kind); ok && k.Flag != nil {
		return k.Flag.Args
	}
	return ""
}

// stageFlagList names the filter-mode stage flags: --js, --lua, ...
func stageFlagList(reg *engine.Registry) string {
	var flags []string
	for _, k := range reg.KindSpecs() {
		if k.Flag != nil {
			flags = append(flags, "--"+k.Name)
		}
	}
	return strings.Join(flags, ", ")
}

// writesStdout reports whether output: or a named output of spec is the
// standard output.
func writesStdout(spec *engine.Spec) bool {
	std := func(o engine.OutputSpec) bool { return o.Type == "" || o.Type == "stdout" }
	if std(spec.Output) {
		return true
	}
	for _, o := range spec.Outputs {
		if std(o) {
			return true
		}
	}
	return false
}
