package engine

import (
	"fmt"
	"path/filepath"
	"time"
)

// Defaults of the pipeline file.
const (
	DefaultTimeout        = 5 * time.Second
	DefaultMaxRecordBytes = ByteSize(1 << 20)
	DefaultBatchRecords   = 1024
	DefaultBatchBytes     = 64 << 10
	MaxWorkers            = 256
)

// Codec names.
const (
	CodecLines  = "lines"
	CodecNDJSON = "ndjson"
	CodecRaw    = "raw"
)

// on_error policies.
const (
	OnErrorFail       = "fail"
	OnErrorDrop       = "drop"
	OnErrorDeadLetter = "dead_letter"
)

// Spec is a pipeline as written in a pipeline file (or built in code).
type Spec struct {
	Name   string     `yaml:"name" doc:"Pipeline name, for logs." example:"error-digest"`
	Input  InputSpec  `yaml:"input" doc:"Where records come from."`
	Output OutputSpec `yaml:"output" doc:"Where records go."`
	// Outputs are named outputs besides output:, for switch branches
	// (to: NAME) and fanout steps. The name output means output:.
	Outputs    map[string]OutputSpec `yaml:"outputs" doc:"Named outputs besides output:, which switch branches and fanout steps send records to (to: NAME); the name output means output: itself."`
	DeadLetter *DeadLetterSpec       `yaml:"dead_letter" doc:"File that on_error: dead_letter writes failed records to, one JSON line each."`
	Defaults   Defaults              `yaml:"defaults" doc:"Policies for stages that do not set their own."`
	Stages     []StageSpec           `yaml:"stages" doc:"The stages, in order."`
	// Plugins says where plugins come from and which are trusted.
	Plugins PluginsSpec `yaml:"plugins" doc:"Where use: NAME finds plugins, and which are trusted."`
	// Tests holds the pipeline's test cases (run by `pipe test`).
	Tests Config `yaml:"tests" doc:"Test cases run by pipe test."`

	// File is the pipeline file's path ("" for pipelines built in code).
	// Relative paths in the spec resolve against its directory (the working
	// directory when File is "").
	File string `yaml:"-"`

	src       Config
	outputSrc map[string]Config // where each named output is in the file
}

// PluginsSpec is the plugins: section: where `use: NAME@CONSTRAINT`
// finds plugins, and whether they must be signed.
type PluginsSpec struct {
	Dirs          []string `yaml:"dirs" doc:"Plugin directories, relative to the pipeline file."`
	RequireSigned bool     `yaml:"require_signed" doc:"Refuse plugins without a trusted signature."`
	Trust         []string `yaml:"trust" doc:"Public key files of trusted signers (pipe plugins keygen makes them)."`
}

// InputSpec describes where records come from.
type InputSpec struct {
	Type  string `yaml:"type" doc:"The input: stdin (default) or file."`
	Path  string `yaml:"path" example:"logs/*.ndjson.gz" doc:"File name or glob, relative to the pipeline file; .gz and .zst are decompressed."`
	Codec string `yaml:"codec" doc:"How bytes become records: lines (default), ndjson, raw, csv or logfmt."`
	// MaxRecordBytes bounds one record (default: defaults.max_record_bytes).
	MaxRecordBytes ByteSize `yaml:"max_record_bytes" example:"4MiB" doc:"Larger records are record errors (default: defaults.max_record_bytes, else 1MiB)."`
	// OnError applies to records the codec rejects (default: defaults.on_error).
	OnError string `yaml:"on_error" enum:"fail,drop,dead_letter" doc:"What to do with records the codec rejects (default: defaults.on_error, else fail)."`
	// ValidateUTF8 makes records with invalid UTF-8 record errors.
	ValidateUTF8 bool `yaml:"validate_utf8" default:"false" doc:"Make records that are not valid UTF-8 record errors."`
	// RejectNUL makes records containing NUL bytes record errors.
	RejectNUL bool `yaml:"reject_nul" default:"false" doc:"Make records containing NUL bytes record errors."`
	// CSV are the settings of codec: csv.
	CSV *CSVOptions `yaml:"csv" doc:"Settings of codec: csv (columns, header, delimiter)."`
	// Extra holds the fields of the input type's own (connector.InputType
	// Config): the engine hands them to the type's constructor.
	Extra Config `yaml:",remain"`

	src Config
}

// OutputSpec describes where records go.
type OutputSpec struct {
	Type  string `yaml:"type" doc:"The output: stdout (default) or file."`
	Path  string `yaml:"path" example:"out/errors.ndjson" doc:"File to write, relative to the pipeline file."`
	Codec string `yaml:"codec" doc:"How records become bytes (default: the input's codec)."`
	// CSV are the settings of codec: csv (default: the input's, when it is csv too).
	CSV *CSVOptions `yaml:"csv" doc:"Settings of codec: csv (columns, header, delimiter); default: the input's when its codec is csv."`
	// Retry is how a failing write is retried (outputs that report
	// transient errors); nil: the defaults (see RetrySpec).
	Retry *RetrySpec `yaml:"retry" doc:"How a failing write is retried (exponential backoff with jitter)."`
	// OnError is what happens to a batch the output could not write after
	// its last attempt: fail (default), drop or dead_letter.
	OnError string `yaml:"on_error" enum:"fail,drop,dead_letter" doc:"What happens to a batch the output could not write after its last attempt: fail the run (default), drop it, or dead_letter its records."`
	// Extra holds the fields of the output type's own.
	Extra Config `yaml:",remain"`
	src   Config
}

// DeadLetterSpec names the file that on_error: dead_letter writes to.
type DeadLetterSpec struct {
	Path string `yaml:"path" example:"rejects.ndjson" doc:"File the failed records are appended to, relative to the pipeline file."`
	src  Config
}

// Defaults are the per-stage policies that stages do not set themselves.
type Defaults struct {
	Timeout        *time.Duration `yaml:"timeout" example:"2s" doc:"Per-record timeout of every stage (default 5s; 0 for none)."`
	OnError        string         `yaml:"on_error" enum:"fail,drop,dead_letter" doc:"What a failing record does (default fail)."`
	Workers        int            `yaml:"workers" doc:"Parallel instances of every stage (default 1)."`
	MaxRecordBytes ByteSize       `yaml:"max_record_bytes" example:"1MiB" doc:"Larger records are record errors (default 1MiB)."`
	src            Config
}

// StageSpec is one stage of a pipeline.
type StageSpec struct {
	Name string `yaml:"name" doc:"Unique stage name, used in errors, stats, logs and metrics."`
	Type string `yaml:"type" doc:"The stage kind (pipe stages lists them)."`
	Use  string `yaml:"use" doc:"A registered native transformer, or a plugin as NAME[@CONSTRAINT]."`
	Path string `yaml:"path" doc:"Script, module, .so or executable, relative to the pipeline file."`
	Code string `yaml:"code" doc:"Inline script; ${VAR} is not expanded here."`
	// Config is handed to the transformer (native), init() (scripts) or the
	// plugin (wasm, rpc).
	Config Config `yaml:"config" doc:"Handed to the transformer, init() or the plugin, and checked by it."`

	// Timeout is per record; nil: default; 0: none.
	Timeout        *time.Duration `yaml:"timeout" example:"250ms" doc:"Per-record timeout; 0 for none (default: defaults.timeout, else 5s)."`
	OnError        string         `yaml:"on_error" enum:"fail,drop,dead_letter" doc:"fail: stop; drop: count and go on; dead_letter: write the record to dead_letter and go on (default: defaults.on_error, else fail)."`
	Workers        int            `yaml:"workers" doc:"Parallel instances; the output order is kept (default: defaults.workers, else 1)."`
	MaxRecordBytes ByteSize       `yaml:"max_record_bytes" doc:"Larger records entering the stage are record errors (default: defaults.max_record_bytes, else 1MiB)."`
	Schema         Config         `yaml:"schema" doc:"JSON Schema (inline, or a file path) every record entering the stage must match."`
	// Isolation is where the stage runs: in_process (default) or process
	// (a supervised child process with an OS memory limit; see Isolator).
	Isolation string `yaml:"isolation" enum:"in_process,process" doc:"Where the stage runs: in_process (default), or process: a supervised child process (pipe itself, re-executed) whose OS memory limit is the stage's memory_limit, so that a script that runs out of memory fails its record and gets a fresh process instead of killing pipe. Costs a gRPC round trip per batch; see RATIONALE.md."`

	// Extra holds the fields that only the stage's kind knows (modules:,
	// memory_limit:, args:, ...). A kind decodes them with Extra.Decode;
	// fields a kind does not decode are reported as unknown.
	Extra Config `yaml:",remain"`

	// Switch, Default and Branches make the step a switch (see
	// README, "Routing"); Fanout makes it a fanout. Such a step has a name
	// and no type.
	Switch   []CaseSpec   `yaml:"switch" doc:"Make this step a switch: each record goes to the branch of the first case whose condition holds."`
	Default  string       `yaml:"default" doc:"Switch: where records that no case matches go: continue (down this chain, the default), drop, or a branch name."`
	Branches []BranchSpec `yaml:"branches" doc:"Switch: the branches cases send records to, each a chain of stages ending at an output (to:) or merging back after the switch."`
	Fanout   []FanoutSpec `yaml:"fanout" doc:"Make this step a fanout (the last step of its chain): every record is copied to each listed output."`

	// New, for stages built in Go code, makes one instance per worker; Type
	// may then be empty.
	New func() (Transformer, error) `yaml:"-"`

	src       Config
	file      string
	branch    string // SWITCH.BRANCH of the branch the stage is in ("" for the main chain)
	plugin    string // NAME@VERSION when resolved from a plugin directory
	pluginSum string // hex SHA-256 of its entry file when resolved
}

// Plugin returns NAME@VERSION of the plugin the stage resolved to ("" when
// it names no plugin).
func (s *StageSpec) Plugin() string { return s.plugin }

// PluginSHA256 returns the hex SHA-256 the plugin's entry file (Path) had
// when the stage resolved to it ("" when unknown or no plugin).
func (s *StageSpec) PluginSHA256() string { return s.pluginSum }

// Errorf returns a *ConfigError at the value of the stage's field (or at the
// stage when the field is absent); for stages built in code, the message
// names the stage.
func (s *StageSpec) Errorf(field, format string, args ...any) error {
	if s.src.node == nil {
		return &ConfigError{File: s.file, Msg: fmt.Sprintf("stage %s: ", quote(s.Name)) + fmt.Sprintf(format, args...)}
	}
	for _, c := range []Config{s.src, s.Extra} {
		if n := resolve(c.node); n != nil && field != "" {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == field {
					return c.errAt(n.Content[i+1], format, args...)
				}
			}
		}
	}
	return s.src.errAt(resolve(s.src.node), format, args...)
}

// Resolve returns p relative to the pipeline file's directory (p itself
// when absolute).
func (s *StageSpec) Resolve(p string) string { return resolvePath(s.file, p) }

func resolvePath(file, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if file == "" {
		return p
	}
	return filepath.Join(filepath.Dir(file), p)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}

func errAtField(c Config, file, field, format string, args ...any) error {
	if c.node == nil {
		return &ConfigError{File: file, Msg: fmt.Sprintf(format, args...)}
	}
	return c.Errorf(field, format, args...)
}

// validate checks everything about a spec that needs no stage kind: codecs,
// policies, names, input paths. It does no I/O except checking that an input
// glob matches and an output directory exists.
func (sp *Spec) validate() error {
	in := &sp.Input
	switch in.Type {
	case "", "stdin":
		if in.Path != "" {
			return errAtField(in.src, sp.File, "path", "input path is only for type: file")
		}
	case "file":
		if in.Path == "" {
			return errAtField(in.src, sp.File, "type", "input type file needs a path (a file name or glob)")
		}
		if _, err := filepath.Glob(resolvePath(sp.File, in.Path)); err != nil {
			return errAtField(in.src, sp.File, "path", "invalid glob %q: %v", in.Path, err)
		}
	default: // a registered connector: Build checks the type and its fields
	}
	if err := checkCodec(in.src, sp.File, in.Codec); err != nil {
		return err
	}
	if err := checkCSV(in.src, sp.File, in.Codec, in.CSV); err != nil {
		return err
	}
	if err := checkPolicy(in.src, sp.File, in.OnError); err != nil {
		return err
	}
	out := &sp.Output
	switch out.Type {
	case "", "stdout":
		if out.Path != "" {
			return errAtField(out.src, sp.File, "path", "output path is only for type: file")
		}
	case "file":
		if out.Path == "" {
			return errAtField(out.src, sp.File, "type", "output type file needs a path")
		}
	default: // a registered connector: Build checks the type and its fields
	}
	if err := checkPolicy(out.src, sp.File, out.OnError); err != nil {
		return err
	}
	if err := checkCodec(out.src, sp.File, out.Codec); err != nil {
		return err
	}
	if err := checkCSV(out.src, sp.File, firstNonEmpty(out.Codec, in.Codec), out.CSV); err != nil {
		return err
	}
	if err := checkPolicy(sp.Defaults.src, sp.File, sp.Defaults.OnError); err != nil {
		return err
	}
	if sp.Defaults.Workers < 0 || sp.Defaults.Workers > MaxWorkers {
		return errAtField(sp.Defaults.src, sp.File, "workers", "workers must be between 1 and %d", MaxWorkers)
	}
	if sp.DeadLetter != nil && sp.DeadLetter.Path == "" {
		return errAtField(sp.DeadLetter.src, sp.File, "", "dead_letter needs a path")
	}
	names := map[string]bool{"input": true, "output": true}
	for i, s := range sp.allStages() {
		s.file = sp.File
		if s.Name == "" {
			s.Name = fmt.Sprintf("stage%d", i+1)
			if s.src.node != nil {
				return s.Errorf("", "stage %d has no name (every stage needs a unique name:)", i+1)
			}
		}
		if names[s.Name] {
			if s.Name == "input" || s.Name == "output" {
				return s.Errorf("name", "stage name %q is reserved", s.Name)
			}
			return s.Errorf("name", "duplicate stage name %q", s.Name)
		}
		names[s.Name] = true
		if err := checkPolicy(s.src, sp.File, s.OnError); err != nil {
			return err
		}
		if s.Workers < 0 || s.Workers > MaxWorkers {
			return s.Errorf("workers", "workers must be between 1 and %d", MaxWorkers)
		}
		if s.MaxRecordBytes < 0 {
			return s.Errorf("max_record_bytes", "max_record_bytes must be positive")
		}
		if !s.Schema.IsZero() && !s.Schema.mapOrScalar() {
			return s.Errorf("schema", "schema must be a JSON Schema (a mapping) or the path of a schema file")
		}
	}
	return sp.validateRoutes()
}

func checkCodec(c Config, file, codec string) error {
	switch codec {
	case "", CodecLines, CodecNDJSON, CodecRaw, CodecCSV, CodecLogfmt:
		return nil
	}
	return errAtField(c, file, "codec", "unknown codec %q (want lines, ndjson, raw, csv or logfmt)", codec)
}

func checkPolicy(c Config, file, p string) error {
	switch p {
	case "", OnErrorFail, OnErrorDrop, OnErrorDeadLetter:
		return nil
	}
	return errAtField(c, file, "on_error", "unknown on_error policy %q (want fail, drop or dead_letter)", p)
}
