package engine

import (
	"slices"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/connectors/file"
	"github.com/pipe-dev/pipe/connectors/stdio"
)

// builtinComponents are the specs of the codecs built into the engine.
func builtinComponents() []component.Spec {
	codec := func(name, summary, doc string) component.Spec {
		s := component.New(component.ClassCodec, name, summary, struct{}{})
		s.Doc = doc
		s.Examples = []component.Example{{Title: "as the input's codec (the output's defaults to it)", YAML: "input: {type: stdin, codec: " + name + "}"}}
		return s
	}
	return []component.Spec{
		codec(CodecLines, "one record per line, the newline stripped (the default)",
			"Output writes each record followed by a newline. A line longer than `max_record_bytes` is a record error."),
		codec(CodecNDJSON, "one JSON value per line; blank lines are skipped",
			"A line that is not one JSON value is a record error of the input, handled by its `on_error`. Field-based native transformers (select, set, ...) need it."),
		codec(CodecRaw, "the whole input, or each input file, is one record",
			"Output writes the records one after the other, with nothing between them."),
		switchSpec(), fanoutSpec(),
	}
}

// builtinConnectors are the inputs and outputs every registry knows.
func builtinConnectors(r *Registry) {
	r.RegisterInput(stdio.InputType)
	r.RegisterInput(file.InputType)
	r.RegisterOutput(stdio.OutputType)
	r.RegisterOutput(file.OutputType)
}

func without(fs []component.Field, names ...string) []component.Field {
	return slices.DeleteFunc(fs, func(f component.Field) bool { return slices.Contains(names, f.Name) })
}
