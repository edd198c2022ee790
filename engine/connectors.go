package engine

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/connector"
)

// Inputs and outputs are connectors (package connector): each registers a
// connector.InputType or connector.OutputType with its config struct and
// constructor. The engine keeps the fields every input or output takes
// (inputCommon, outputCommon) and hands a connector the rest of its
// section of the pipeline file.

// inputCommon are the fields the engine takes for every input.
type inputCommon struct {
	Type  string `yaml:"type" doc:"The input type (pipe stages lists them; default stdin)."`
	Codec string `yaml:"codec" doc:"How bytes become records: lines (default), ndjson, raw, csv or logfmt."`
	// CSV are the settings of codec: csv.
	CSV *CSVOptions `yaml:"csv" doc:"Settings of codec: csv (columns, header, delimiter)."`
	// MaxRecordBytes bounds one record (default: defaults.max_record_bytes).
	MaxRecordBytes ByteSize `yaml:"max_record_bytes" example:"4MiB" doc:"Larger records are record errors (default: defaults.max_record_bytes, else 1MiB)."`
	OnError        string   `yaml:"on_error" enum:"fail,drop,dead_letter" doc:"What to do with records the codec rejects (default: defaults.on_error, else fail)."`
	ValidateUTF8   bool     `yaml:"validate_utf8" default:"false" doc:"Make records that are not valid UTF-8 record errors."`
	RejectNUL      bool     `yaml:"reject_nul" default:"false" doc:"Make records containing NUL bytes record errors."`
}

// outputCommon are the fields the engine takes for every output.
type outputCommon struct {
	Type    string      `yaml:"type" doc:"The output type (pipe stages lists them; default stdout)."`
	Codec   string      `yaml:"codec" doc:"How records become bytes (default: the input's codec)."`
	CSV     *CSVOptions `yaml:"csv" doc:"Settings of codec: csv (columns, header, delimiter); default: the input's when its codec is csv."`
	Retry   *RetrySpec  `yaml:"retry" doc:"How a failing write is retried (exponential backoff with jitter)."`
	OnError string      `yaml:"on_error" enum:"fail,drop,dead_letter" doc:"What happens to a batch the output could not write after its last attempt: fail the run (default), drop it, or dead_letter its records."`
}

// RetrySpec is an output's retry: policy.
type RetrySpec struct {
	MaxAttempts int           `yaml:"max_attempts" default:"5" doc:"Attempts per batch, the first included (1: no retry)."`
	Initial     time.Duration `yaml:"initial" default:"100ms" doc:"Wait before the second attempt; it doubles (with jitter) up to max."`
	Max         time.Duration `yaml:"max" default:"10s" doc:"Longest wait between two attempts."`
	src         Config
}

// RegisterInput registers an input type in DefaultRegistry.
func RegisterInput(t connector.InputType) { DefaultRegistry.RegisterInput(t) }

// RegisterOutput registers an output type in DefaultRegistry.
func RegisterOutput(t connector.OutputType) { DefaultRegistry.RegisterOutput(t) }

// RegisterInput registers an input type: its component spec (the engine's
// common input fields and those of t.Config) and its constructor. It panics
// on a programmer error (no name, no constructor, a name taken). The spec
// is reflected from t.Config when first asked for (pipe stages, pipe
// schema, the reference docs), not here: a config field that repeats one
// the engine takes panics then.
func (r *Registry) RegisterInput(t connector.InputType) {
	if t.Name == "" || t.New == nil {
		panic("engine: invalid input registration")
	}
	checkConfigType(t.Name, t.Config)
	r.registerSpec(component.ClassInput, t.Name, func() component.Spec {
		return connectorSpec(component.ClassInput, t.Name, t.Summary, t.Doc, inputCommon{}, t.Config, t.Examples)
	})
	putOnce(r, &r.inputs, "input", t.Name, t)
}

// RegisterOutput registers an output type (see RegisterInput).
func (r *Registry) RegisterOutput(t connector.OutputType) {
	if t.Name == "" || t.New == nil {
		panic("engine: invalid output registration")
	}
	checkConfigType(t.Name, t.Config)
	r.registerSpec(component.ClassOutput, t.Name, func() component.Spec {
		return connectorSpec(component.ClassOutput, t.Name, t.Summary, t.Doc, outputCommon{}, t.Config, t.Examples)
	})
	putOnce(r, &r.outputs, "output", t.Name, t)
}

// InputType returns the registered input type name.
func (r *Registry) InputType(name string) (connector.InputType, bool) {
	return lookup(r, &r.inputs, name)
}

// OutputType returns the registered output type name.
func (r *Registry) OutputType(name string) (connector.OutputType, bool) {
	return lookup(r, &r.outputs, name)
}

func (r *Registry) connectorNames(class component.Class) string {
	r.mu.RLock()
	names := slices.Collect(maps.Keys(r.components[class]))
	r.mu.RUnlock()
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func connectorSpec(class component.Class, name, summary, doc string, common, config any, examples []connector.Example) component.Spec {
	s := component.New(class, name, summary, common)
	s.Fields = without(s.Fields, "type")
	if config != nil {
		own := component.New(class, name, summary, config)
		for _, f := range own.Fields {
			if _, dup := s.Lookup(f.Name); dup {
				panic(fmt.Sprintf("engine: %s %s: field %q is one the engine takes for every %s", class, name, f.Name, class))
			}
		}
		s.Fields = append(own.Fields, s.Fields...) // the type's own first: path before codec
		s.Open = own.Open
	}
	s.Doc = doc
	for _, e := range examples {
		s.Examples = append(s.Examples, component.Example{Title: e.Title, YAML: e.YAML})
	}
	return s
}
