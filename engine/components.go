package engine

import (
	"slices"

	"github.com/pipe-dev/pipe/component"
)

// builtinComponents are the specs of the inputs, outputs and codecs built
// into the engine. Their fields are reflected from InputSpec and OutputSpec,
// the structs a pipeline file's input: and output: decode into, less the
// fields a type does not take.
func builtinComponents() []component.Spec {
	in := func(name, summary string, drop ...string) component.Spec {
		s := component.New(component.ClassInput, name, summary, InputSpec{})
		s.Fields = without(s.Fields, append(drop, "type")...)
		return s
	}
	out := func(name, summary string, drop ...string) component.Spec {
		s := component.New(component.ClassOutput, name, summary, OutputSpec{})
		s.Fields = without(s.Fields, append(drop, "type")...)
		return s
	}
	stdin := in("stdin", "read records from standard input (the default)", "path")
	stdin.Examples = []component.Example{{Title: "JSON lines on stdin", YAML: "input: {type: stdin, codec: ndjson}"}}
	file := in("file", "read records from files matching a glob, in sorted order; .gz and .zst are decompressed")
	file.Fields = required(file.Fields, "path")
	file.Examples = []component.Example{{Title: "every log of a directory", YAML: "input: {type: file, path: logs/*.ndjson.gz, codec: ndjson, max_record_bytes: 4MiB}"}}
	stdout := out("stdout", "write records to standard output (the default)", "path")
	fileOut := out("file", "write records to a file (created or truncated)")
	fileOut.Fields = required(fileOut.Fields, "path")
	fileOut.Examples = []component.Example{{Title: "write JSON lines", YAML: "output: {type: file, path: out/errors.ndjson, codec: ndjson}"}}
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
	return []component.Spec{stdin, file, stdout, fileOut,
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
				"empty, other values as JSON, quoted where needed. A record that is not an object is a record error of the output.",
			"input: {type: stdin, codec: csv, csv: {columns: [time, level, msg], delimiter: ';'}}"),
		textCodec(CodecLogfmt, "logfmt lines (key=value key2=\"quoted value\") in and out; the stages see NDJSON records",
			"Input: each line becomes a JSON object of its pairs, values as strings (a key without `=` is true, `key=` is \"\"); "+
				"quoted values take the escapes \\\" \\\\ \\n \\r \\t \\uXXXX; a repeated key keeps its first position and last value. "+
				"Blank lines are skipped. An unterminated quote, text after a closing quote, `=` without a key or a quote in a "+
				"key is a record error of the input (`on_error`); use the parse_logfmt stage for typed values.\n\n"+
				"Output: each record, a JSON object, becomes one line of its top-level fields: strings as text (quoted when "+
				"they hold white space, `=`, quotes or control characters), null as `key=`, other values as JSON. A record that "+
				"is not an object, or a key that logfmt cannot hold, is a record error of the output.",
			"input: {type: stdin, codec: logfmt}"),
	}
}

func without(fs []component.Field, names ...string) []component.Field {
	return slices.DeleteFunc(fs, func(f component.Field) bool { return slices.Contains(names, f.Name) })
}

func required(fs []component.Field, name string) []component.Field {
	for i := range fs {
		if fs[i].Name == name {
			fs[i].Required = true
		}
	}
	return fs
}
