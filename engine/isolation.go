package engine

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"
)

// Isolation modes of a stage (StageSpec.Isolation).
const (
	IsolationInProcess = "in_process"
	IsolationProcess   = "process"
)

// Isolator builds the stage that runs a stage of isolation: process in a
// supervised child process. inner is the stage its kind built from spec
// (validated, not loaded): the isolator may ask it what it needs (its
// memory_limit) but must not load or run it in this process. What the
// child rebuilds the stage from is spec.Describe. Package stages/isolate
// installs one (SetIsolator); a build without it refuses isolation:
// process.
type Isolator func(spec *StageSpec, env *BuildEnv, inner Stage) (Stage, error)

// SetIsolator installs the builder of isolated stages.
func (r *Registry) SetIsolator(iso Isolator) {
	r.mu.Lock()
	r.isolator = iso
	r.mu.Unlock()
}

// SetIsolator installs the builder of isolated stages in DefaultRegistry.
func SetIsolator(iso Isolator) { DefaultRegistry.SetIsolator(iso) }

// isolate wraps a built stage of isolation: process.
func isolate(s *StageSpec, env *BuildEnv, inner Stage) (Stage, error) {
	switch s.Type {
	case "rpc":
		return nil, s.Errorf("isolation", "an rpc stage already runs in its own process: isolation: process is for the other kinds")
	case "":
		return nil, s.Errorf("isolation", "isolation: process needs a stage with a type: (a stage built in Go code runs in the process)")
	}
	env.Registry.mu.RLock()
	iso := env.Registry.isolator
	env.Registry.mu.RUnlock()
	if iso == nil {
		return nil, s.Errorf("isolation", "this build cannot run stages in a child process: import github.com/pipe-dev/pipe/stages/isolate (pipe does)")
	}
	return iso(s, env, inner)
}

// isolation is a stage's isolation in its plan.
func isolation(s *StageSpec, kind string) string {
	switch kind {
	case "switch", "fanout", "go":
		return ""
	}
	return firstNonEmpty(s.Isolation, IsolationInProcess)
}

// StageDescriptor is a stage's spec in a form that crosses a process
// boundary (JSON): what the child process of an isolated stage rebuilds
// the stage from (Registry.BuildDescribed). Paths stay as written and are
// resolved against File, as in the parent.
type StageDescriptor struct {
	File   string          `json:"file,omitempty"` // the pipeline file
	Name   string          `json:"name"`
	Type   string          `json:"type"`
	Use    string          `json:"use,omitempty"`
	Path   string          `json:"path,omitempty"`
	Code   string          `json:"code,omitempty"`
	Config json.RawMessage `json:"config,omitempty"` // config: as JSON
	Extra  json.RawMessage `json:"extra,omitempty"`  // the kind's own fields as JSON
	// Codec is the codec of the records entering the stage; Timeout its
	// per-record timeout (0: none).
	Codec   string        `json:"codec"`
	Timeout time.Duration `json:"timeout"`
	// Plugin and PluginSHA256: the plugin the stage resolved to, whose
	// entry file the child checks again.
	Plugin       string `json:"plugin,omitempty"`
	PluginSHA256 string `json:"plugin_sha256,omitempty"`
}

// Describe returns what a child process needs to build s again, with the
// codec and timeout of env.
func (s *StageSpec) Describe(env *BuildEnv) StageDescriptor {
	d := StageDescriptor{File: s.file, Name: s.Name, Type: s.Type, Use: s.Use, Path: s.Path, Code: s.Code,
		Codec: env.Codec, Timeout: env.Timeout, Plugin: s.plugin, PluginSHA256: s.pluginSum}
	if c := canonicalJSON(s.Config); c != "" {
		d.Config = json.RawMessage(c)
	}
	if c := canonicalJSON(s.Extra); c != "" {
		d.Extra = json.RawMessage(c)
	}
	return d
}

// BuildDescribed builds the stage d describes with its kind (as Build
// does, without isolation): the child process of an isolated stage calls
// it. log is the stage's logger (nil: none).
func (r *Registry) BuildDescribed(d StageDescriptor, log *slog.Logger) (Stage, error) {
	k, ok := r.KindSpec(d.Type)
	if !ok {
		return nil, fmt.Errorf("unknown stage type %q (want one of: %s)", d.Type, kindList(r))
	}
	spec := &StageSpec{Name: d.Name, Type: d.Type, Use: d.Use, Path: d.Path, Code: d.Code, file: d.File,
		plugin: d.Plugin, pluginSum: d.PluginSHA256}
	var err error
	if spec.Config, err = configOfJSON(d.Config); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if spec.Extra, err = configOfJSON(d.Extra); err != nil {
		return nil, fmt.Errorf("fields: %w", err)
	}
	if spec.Timeout == nil {
		t := d.Timeout
		spec.Timeout = &t
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return k.Build(spec, &BuildEnv{Registry: r, Codec: d.Codec, Timeout: d.Timeout, Logger: log})
}

func configOfJSON(b json.RawMessage) (Config, error) {
	if len(b) == 0 {
		return Config{}, nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber() // integers stay exact
	if err := dec.Decode(&v); err != nil {
		return Config{}, err
	}
	return ConfigOf(exactNumbers(v)), nil
}

// exactNumbers replaces the json.Numbers in v by int64 (or, when not
// integers, float64) values, which YAML encodes as numbers.
func exactNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		for k, e := range x {
			x[k] = exactNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = exactNumbers(e)
		}
	}
	return v
}
