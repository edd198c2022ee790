package engine

import (
	"slices"
	"sync"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/connectors/file"
	"github.com/pipe-dev/pipe/connectors/stdio"
)

// builtinComponents registers the specs of the codecs and steps built into
// the engine, each built on first use.
func builtinComponents(r *Registry) {
	for _, s := range builtinSpecs {
		r.registerSpec(s.class, s.name, s.spec)
	}
}

// builtinSpecs are the codecs and steps of builtinComponents; spec builds
// each one's spec.
var builtinSpecs = []struct {
	class component.Class
	name  string
	spec  func() component.Spec
}{
	{component.ClassCodec, CodecLines, func() component.Spec { return builtinSpec(CodecLines) }},
	{component.ClassCodec, CodecNDJSON, func() component.Spec { return builtinSpec(CodecNDJSON) }},
	{component.ClassCodec, CodecRaw, func() component.Spec { return builtinSpec(CodecRaw) }},
	{component.ClassCodec, CodecCSV, func() component.Spec { return builtinSpec(CodecCSV) }},
	{component.ClassCodec, CodecLogfmt, func() component.Spec { return builtinSpec(CodecLogfmt) }},
	{component.ClassStep, "switch", switchSpec},
	{component.ClassStep, "fanout", fanoutSpec},
}

// builtinSpec returns the spec of the built-in codec name.
func builtinSpec(name string) component.Spec {
	for _, s := range builtinCodecSpecs() {
		if s.Name == name {
			return s
		}
	}
	panic("engine: no built-in codec " + name)
}

// builtinCodecSpecs returns the specs of the built-in codecs, built once.
var builtinCodecSpecs = sync.OnceValue(builtinSpecList)

// builtinSpecList returns the specs of the built-in codecs.
func builtinSpecList() []component.Spec {
	codec := func(name, summary, doc string) component.Spec {
		s := component.New(component.ClassCodec, name, summary, struct{}{})
		s.Doc = doc
		s.Examples = []component.Example{{Title: "as the input's codec (the output's defaults to it)", YAML: "input: {type: stdin, codec: " + name + "}"}}
		return s
	}
	textCodec := func(name, summary, doc, example string) component.Spec {
		s := codec(name, summary, doc)
		if name == CodecCSV {
			s.Fields = component.FieldsOf(struct {
				CSV CSVOptions `yaml:"csv" doc:"The csv settings, on the input and the output."`
			}{})
		}
		s.Examples = append([]component.Example{{Title: "NDJSON records from " + name + " lines", YAML: example}}, s.Examples...)
		return s
	}
	return []component.Spec{
		codec(CodecLines, "one record per line, the newline stripped (the default)",
			"Output writes each record followed by a newline. A line longer than `max_record_bytes` is a record error."),
		codec(CodecNDJSON, "one JSON value per line; blank lines are skipped",
			"A line that is not one JSON value is a record error of the input, handled by its `on_error`. Field-based native transformers (select, set, ...) need it."),
		codec(CodecRaw, "the whole input, or each input file, is one record",
			"Output writes the records one after the other, with nothing between them."),
		textCodec(CodecCSV, "CSV rows (RFC 4180 quoting) in, CSV rows out; the stages see NDJSON records",
			"Input: each line is one row and becomes a JSON object of strings keyed by the columns: `csv: {columns: [...]}`, "+
				"or the header row (the first line, the default without columns:; later lines equal to it, such as the headers "+
				"of concatenated files, are skipped). A quoted field cannot span lines. Blank lines are skipped. A row with "+
				"another number of fields, an unterminated quote or a stray quote is a record error of the input (`on_error`).\n\n"+
				"Output: each record, a JSON object, becomes one row of the values of `columns` (default: the first record's "+
				"keys), after a header row unless `header: false`; strings are written as text, null and missing fields as "+
				"empty, other values as JSON, quoted where needed. A record that is not an object, or that repeats a key, is a record error of the output. "+
				"An output is handed the encoded line: its `{{field.PATH}}` templates (a broker's subject, topic or key) are refused; use `{{meta.KEY}}`.",
			"input: {type: stdin, codec: csv, csv: {columns: [time, level, msg], delimiter: ';'}}"),
		textCodec(CodecLogfmt, "logfmt lines (key=value key2=\"quoted value\") in and out; the stages see NDJSON records",
			"Input: each line becomes a JSON object of its pairs, values as strings (a key without `=` is true, `key=` is \"\"); "+
				"quoted values take the escapes \\\" \\\\ \\n \\r \\t \\uXXXX; a repeated key keeps its first position and last value. "+
				"Blank lines are skipped. An unterminated quote, text after a closing quote, `=` without a key or a quote in a "+
				"key is a record error of the input (`on_error`); use the parse_logfmt stage for typed values.\n\n"+
				"Output: each record, a JSON object, becomes one line of its top-level fields: strings as text (quoted when "+
				"they hold white space, `=`, quotes or control characters), null as `key=`, other values as JSON. A record that "+
				"is not an object, repeats a key, or has a key that logfmt cannot hold, is a record error of the output. "+
				"An output is handed the encoded line: its `{{field.PATH}}` templates (a broker's subject, topic or key) are refused; use `{{meta.KEY}}`.",
			"input: {type: stdin, codec: logfmt}"),
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
