package engine

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Plan is a pipeline resolved: every setting a run uses, for the input,
// every stage and the output, with the defaults applied, ${VAR}s expanded
// and paths resolved against the pipeline file. Build computes it once, in
// one place (resolvePlan); the runner reads its settings from it, `pipe run
// --dry-run` prints it (Plan.YAML) and a live reload compares the running
// plan with the new one (Plan.Diff) to apply or refuse each difference by
// name.
//
// A Plan is a value: its parts are comparable with ==, and Equal compares
// two plans. Stage config, kind fields and schemas are held as canonical
// JSON text, so that two files that say the same thing give equal plans.
// What a path points to (a script's text, a plugin's bytes) is not part of
// the plan: Build does no I/O.
type Plan struct {
	Name       string
	Input      InputPlan
	Output     OutputPlan
	DeadLetter string // resolved path of the dead_letter file; "" when none
	Batch      BatchPlan
	// Stages are every step, depth first: the main chain's, and after
	// each switch the stages of its branches (StagePlan.Branch).
	Stages []StagePlan
	// Outputs are the named outputs (outputs:), in file order.
	Outputs []NamedOutputPlan
}

// NamedOutputPlan is one named output's effective settings.
type NamedOutputPlan struct {
	Name string
	OutputPlan
	// Policy is what the records fed to it do when it is slow or
	// failing: block, drop or dead_letter (a fanout's policy: for it).
	Policy string
}

// InputPlan is the input's effective settings. The `plan` tags name the
// fields in reload messages; "restart" marks those a live run cannot
// change.
type InputPlan struct {
	Type           string   `plan:"type,restart"`   // stdin or file
	Path           string   `plan:"path,restart"`   // resolved glob (type file)
	Fields         string   `plan:"fields,restart"` // canonical JSON of the type's own fields (follow, checkpoint, ...)
	Codec          string   `plan:"codec,restart"`  // lines, ndjson or raw
	MaxRecordBytes ByteSize `plan:"max_record_bytes"`
	OnError        string   `plan:"on_error"` // for records the codec rejects
	ValidateUTF8   bool     `plan:"validate_utf8"`
	RejectNUL      bool     `plan:"reject_nul"`
	CSV            string   `plan:"csv,restart"` // JSON of the csv: settings (codec csv)
}

// OutputPlan is the output's effective settings.
type OutputPlan struct {
	Type string `plan:"type,restart"` // stdout or file
	Path string `plan:"path,restart"` // resolved (type file)
	// Fields is the canonical JSON of the type's own fields.
	Fields string `plan:"fields,restart"`
	// Retry is the output's retry: as written, with its defaults ("" when
	// not set); GiveUp its on_error after the last attempt ("": fail).
	Retry  string `plan:"retry,restart"`
	GiveUp string `plan:"write_on_error,restart"`
	Codec  string `plan:"codec,restart"`
	CSV    string `plan:"csv,restart"` // JSON of the csv: settings (codec csv)
	// OnError applies to records the output codec rejects (ndjson output
	// of records that are not one JSON value): defaults.on_error.
	OnError string `plan:"on_error"`
	// Validate: the ndjson output checks that every record is one JSON
	// value (not when records come straight from an ndjson input).
	Validate bool `plan:"validate"`
}

// BatchPlan is how records move: fixed by the engine, shown by --dry-run.
type BatchPlan struct {
	Records    int      // records per batch, at most
	Bytes      ByteSize // bytes per batch, about
	QueueDepth int      // batches queued between two stages
}

// StagePlan is one stage's effective settings.
type StagePlan struct {
	Name string `plan:"name"`
	Kind string `plan:"type"` // native, lua, js, wasm, rpc; "go" for StageSpec.New
	Use  string `plan:"use"`
	Path string `plan:"path"` // resolved script, module, .so or executable
	Code string `plan:"code"`
	// Plugin is NAME@VERSION when resolved from a plugin directory, with
	// the SHA-256 its entry file had.
	Plugin       string `plan:"plugin"`
	PluginSHA256 string `plan:"plugin_sha256"`
	Config       string `plan:"config"` // canonical JSON of config: ("" when none)
	Extra        string `plan:"fields"` // canonical JSON of the kind's own fields
	Schema       string `plan:"schema"` // canonical JSON of schema: (a mapping or a path)
	// Codec is the codec of the records entering the stage.
	Codec          string        `plan:"codec"`
	Timeout        time.Duration `plan:"timeout"` // per record; 0: none
	OnError        string        `plan:"on_error"`
	Workers        int           `plan:"workers"`
	MaxRecordBytes ByteSize      `plan:"max_record_bytes"`
	// Isolation is in_process or process (StageSpec.Isolation).
	Isolation string `plan:"isolation"`
	// Branch is SWITCH.BRANCH for a stage in a switch's branch, "" in the
	// main chain.
	Branch string `plan:"branch"`
	// Route is, for a switch or fanout step (Kind "switch", "fanout"),
	// its cases, default and branches or its outputs as canonical JSON.
	Route string `plan:"route"`
}

// Plan returns the pipeline's resolved plan (a copy: changing it changes
// nothing).
func (p *Pipeline) Plan() Plan {
	pl := p.plan
	pl.Stages = slices.Clone(pl.Stages)
	pl.Outputs = slices.Clone(pl.Outputs)
	return pl
}

// Equal reports whether two plans hold the same settings.
func (pl Plan) Equal(o Plan) bool {
	return pl.Name == o.Name && pl.Input == o.Input && pl.Output == o.Output &&
		pl.DeadLetter == o.DeadLetter && pl.Batch == o.Batch && slices.Equal(pl.Stages, o.Stages) &&
		slices.Equal(pl.Outputs, o.Outputs)
}

// resolvePlan computes the effective settings of spec: the only place where
// defaults are applied. spec must be valid (Spec.validate); stage kinds are
// those after plugin resolution.
func resolvePlan(sp *Spec) Plan {
	d := sp.Defaults
	in := sp.Input
	inCodec := firstNonEmpty(in.Codec, CodecLines)
	pl := Plan{
		Name: sp.Name,
		Input: InputPlan{
			Type:           firstNonEmpty(in.Type, "stdin"),
			Path:           resolvePath(sp.File, in.Path),
			Codec:          inCodec,
			MaxRecordBytes: firstSize(in.MaxRecordBytes, d.MaxRecordBytes, DefaultMaxRecordBytes),
			OnError:        firstNonEmpty(in.OnError, d.OnError, OnErrorFail),
			ValidateUTF8:   in.ValidateUTF8,
			RejectNUL:      in.RejectNUL,
			CSV:            csvJSON(in.CSV),
			Fields:         canonicalJSON(in.Extra),
		},
		Batch: BatchPlan{Records: DefaultBatchRecords, Bytes: DefaultBatchBytes, QueueDepth: queueDepth},
	}
	outCodec := firstNonEmpty(sp.Output.Codec, inCodec)
	outCSV := csvJSON(sp.Output.CSV)
	if sp.Output.CSV == nil && outCodec == CodecCSV && inCodec == CodecCSV {
		outCSV = pl.Input.CSV // the input's columns and delimiter
	}
	pl.Output = OutputPlan{
		Type:     firstNonEmpty(sp.Output.Type, "stdout"),
		Path:     resolvePath(sp.File, sp.Output.Path),
		Codec:    outCodec,
		CSV:      outCSV,
		OnError:  firstNonEmpty(d.OnError, OnErrorFail),
		Validate: outCodec == CodecNDJSON && (len(sp.Stages) > 0 || inCodec != CodecNDJSON),
		Fields:   canonicalJSON(sp.Output.Extra),
		GiveUp:   sp.Output.OnError,
	}
	if r := sp.Output.Retry; r != nil {
		pl.Output.Retry = retryPlan(r)
	}
	if sp.DeadLetter != nil {
		pl.DeadLetter = resolvePath(sp.File, sp.DeadLetter.Path)
	}
	for _, s := range sp.allStages() {
		pl.Stages = append(pl.Stages, resolveStage(sp, s, stageCodec(inCodec)))
	}
	pl.Outputs = resolveOutputs(sp, inCodec)
	return pl
}

// resolveStage computes one stage's effective settings.
func resolveStage(sp *Spec, s *StageSpec, codec string) StagePlan {
	d := sp.Defaults
	timeout := DefaultTimeout
	if d.Timeout != nil {
		timeout = *d.Timeout
	}
	if s.Timeout != nil {
		timeout = *s.Timeout
	}
	workers := s.Workers
	if workers == 0 {
		workers = max(d.Workers, 1)
	}
	kind := s.Type
	switch {
	case kind == "" && s.New != nil:
		kind = "go"
	case s.isSwitch():
		kind = "switch"
	case s.isFanout():
		kind = "fanout"
	}
	return StagePlan{
		Name: s.Name, Kind: kind, Use: s.Use, Path: resolvePath(sp.File, s.Path), Code: s.Code,
		Plugin: s.plugin, PluginSHA256: s.pluginSum,
		Config: canonicalJSON(s.Config), Extra: canonicalJSON(s.Extra), Schema: canonicalJSON(s.Schema),
		Codec: codec, Timeout: timeout, OnError: firstNonEmpty(s.OnError, d.OnError, OnErrorFail),
		Workers: workers, MaxRecordBytes: firstSize(s.MaxRecordBytes, d.MaxRecordBytes, DefaultMaxRecordBytes),
		Branch: s.branch, Route: routeJSON(s), Isolation: isolation(s, kind),
	}
}

func firstSize(s ...ByteSize) ByteSize {
	for _, x := range s {
		if x != 0 {
			return x
		}
	}
	return 0
}

// canonicalJSON returns c as JSON with sorted keys ("" when empty). Unlike
// Config.JSON it does not mark c as decoded (Build reports the fields of a
// kind that its kind did not decode).
func canonicalJSON(c Config) string {
	n := resolve(c.node)
	if n == nil || c.IsZero() {
		return ""
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return ""
	}
	b, err := json.Marshal(normalize(v))
	if err != nil {
		return ""
	}
	return string(b)
}

// Change is one difference between two plans.
type Change struct {
	// Field names the setting as in the pipeline file: input.max_record_bytes,
	// output.path, dead_letter.path, stages (added, removed or reordered),
	// stages.NAME.timeout.
	Field    string
	Old, New string
	// Restart: a live run cannot apply this change.
	Restart bool
}

func (c Change) String() string {
	return fmt.Sprintf("%s: %s → %s", c.Field, orNone(c.Old), orNone(c.New))
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	if len(s) > 200 { // a long script or config
		return s[:197] + "..."
	}
	return s
}

// Diff lists what changes from pl to next, in the order of the file.
func (pl Plan) Diff(next Plan) []Change {
	var out []Change
	if pl.Name != next.Name {
		out = append(out, Change{Field: "name", Old: pl.Name, New: next.Name})
	}
	out = diffFields(out, "input.", pl.Input, next.Input)
	out = diffFields(out, "output.", pl.Output, next.Output)
	if pl.DeadLetter != next.DeadLetter {
		out = append(out, Change{Field: "dead_letter.path", Old: pl.DeadLetter, New: next.DeadLetter, Restart: true})
	}
	if !slices.Equal(pl.Outputs, next.Outputs) {
		// A fanout's policy applies to the copies of the version that
		// sends them; the outputs themselves stay open for the whole run.
		unpolicied := func(os []NamedOutputPlan) []NamedOutputPlan {
			os = slices.Clone(os)
			for i := range os {
				os[i].Policy = ""
			}
			return os
		}
		out = append(out, Change{Field: "outputs", Old: outputsString(pl.Outputs), New: outputsString(next.Outputs),
			Restart: !slices.Equal(unpolicied(pl.Outputs), unpolicied(next.Outputs))})
	}
	names := func(ss []StagePlan) []string {
		var n []string
		for _, s := range ss {
			n = append(n, s.Name)
		}
		return n
	}
	if a, b := names(pl.Stages), names(next.Stages); !slices.Equal(a, b) {
		out = append(out, Change{Field: "stages", Old: strings.Join(a, ", "), New: strings.Join(b, ", ")})
	}
	for _, s := range next.Stages {
		for _, o := range pl.Stages {
			if o.Name == s.Name {
				out = diffFields(out, "stages."+s.Name+".", o, s)
			}
		}
	}
	return out
}

// diffFields compares every field of two values of a plan struct type,
// named by their `plan` tags: no list of fields to keep up to date.
func diffFields[T any](out []Change, prefix string, a, b T) []Change {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	t := va.Type()
	for i := range t.NumField() {
		fa, fb := va.Field(i), vb.Field(i)
		if fa.Equal(fb) {
			continue
		}
		name, opt, _ := strings.Cut(t.Field(i).Tag.Get("plan"), ",")
		out = append(out, Change{Field: prefix + name, Old: planString(fa), New: planString(fb), Restart: opt == "restart"})
	}
	return out
}

func planString(v reflect.Value) string {
	switch x := v.Interface().(type) {
	case string:
		return x
	case time.Duration:
		return x.String()
	case ByteSize:
		return x.String()
	}
	return fmt.Sprint(v.Interface())
}

// refusals returns the changes a live run cannot apply, as one error
// naming each, or nil.
func refusals(changes []Change) error {
	var msgs []string
	for _, c := range changes {
		if c.Restart {
			msgs = append(msgs, fmt.Sprintf("%s changed (%s → %s): cannot apply without a restart", c.Field, orNone(c.Old), orNone(c.New)))
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(msgs, "; "))
}

// YAML returns the plan as a pipeline file with every setting explicit: it
// is what `pipe run --dry-run` prints. Settings that the file cannot set
// (the output's policy, batch sizes) are comments.
func (pl Plan) YAML() ([]byte, error) {
	in, out := pl.Input, pl.Output
	input := []yamlKV{{Key: "type", Value: in.Type}, {Key: "path", Value: in.Path}, {Key: "codec", Value: in.Codec},
		{Key: "max_record_bytes", Value: yamlLiteral(in.MaxRecordBytes.String())}, {Key: "on_error", Value: in.OnError}}
	if in.ValidateUTF8 {
		input = append(input, yamlKV{Key: "validate_utf8", Value: yamlLiteral("true")})
	}
	if in.RejectNUL {
		input = append(input, yamlKV{Key: "reject_nul", Value: yamlLiteral("true")})
	}
	input = append(input, yamlKV{Key: "csv", Value: yamlJSON(in.CSV)})
	input = append(input, yamlKV{Key: "", Value: yamlJSON(in.Fields)}) // the type's own fields, inline
	output := outputYAML(out)
	doc := []yamlKV{{Key: "name", Value: pl.Name}, {Key: "input", Value: input}, {Key: "output", Value: output}}
	if pl.DeadLetter != "" {
		doc = append(doc, yamlKV{Key: "dead_letter", Value: []yamlKV{{Key: "path", Value: pl.DeadLetter}}})
	}
	if len(pl.Outputs) > 0 {
		var outs []yamlKV
		for _, o := range pl.Outputs {
			outs = append(outs, yamlKV{Key: o.Name, Value: outputYAML(o.OutputPlan), Comment: "policy: " + o.Policy})
		}
		doc = append(doc, yamlKV{Key: "outputs", Value: outs})
	}
	stages := pl.stagesYAML("")
	doc = append(doc, yamlKV{Key: "stages", Value: stages,
		Comment: fmt.Sprintf("batches of up to %d records or %s, %d batches queued between stages",
			pl.Batch.Records, pl.Batch.Bytes, pl.Batch.QueueDepth)})
	return encodeYAML(doc)
}

// outputYAML renders an output's settings for Plan.YAML.
func outputYAML(out OutputPlan) []yamlKV {
	output := []yamlKV{{Key: "type", Value: out.Type}, {Key: "path", Value: out.Path},
		{Key: "codec", Value: out.Codec, Comment: outputComment(out)}, {Key: "csv", Value: yamlJSON(out.CSV)},
		{Key: "", Value: yamlJSON(out.Fields)}}
	if out.Retry != "" {
		output = append(output, yamlKV{Key: "retry", Value: yamlJSON(out.Retry)})
	}
	if out.GiveUp != "" {
		output = append(output, yamlKV{Key: "on_error", Value: out.GiveUp})
	}
	return output
}

func outputComment(o OutputPlan) string {
	if !o.Validate {
		return ""
	}
	return "records that are not one JSON value take on_error: " + o.OnError + " (defaults.on_error)"
}

func pluginComment(s StagePlan) string {
	if s.Plugin == "" {
		return ""
	}
	c := "plugin " + s.Plugin
	if s.PluginSHA256 != "" {
		c += ", sha256 " + s.PluginSHA256
	}
	return c
}

// yamlKV is one entry of an ordered mapping for encodeYAML. Value is a
// string (a string scalar; omitted when ""), a yamlLiteral (a plain scalar:
// number, duration, bool), a yamlCode (a string, block style when it has
// several lines), a yamlJSON (JSON text rendered in flow style; with Key ""
// its mapping's entries are inlined), a []yamlKV (a mapping) or a
// [][]yamlKV (a list of mappings).
type yamlKV struct {
	Key     string
	Value   any
	Comment string // a line comment
}

type (
	yamlLiteral string
	yamlCode    string
	yamlJSON    string
)

// Resolved returns the spec's plan as YAML (see Plan.YAML), without
// building its stages: kinds are as written (a use: NAME@VERSION is not
// resolved to its plugin).
//
// Deprecated: Build the pipeline and use Pipeline.Plan().YAML(), which is
// what a run uses.
func (sp *Spec) Resolved() ([]byte, error) { return resolvePlan(sp).YAML() }

// retryPlan renders an output's retry: with its defaults, as JSON.
func retryPlan(r *RetrySpec) string {
	pol := retryPolicyOf(r)
	return fmt.Sprintf(`{"max_attempts":%d,"initial":%q,"max":%q}`, pol.attempts, pol.initial, pol.max)
}
