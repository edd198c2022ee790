package engine

import (
	"encoding/json"
	"reflect"
)

// fieldDocs describe the pipeline file's fields in the JSON Schema.
var fieldDocs = map[string]string{
	"Spec.name":                  "Pipeline name, for logs.",
	"Spec.input":                 "Where records come from.",
	"Spec.output":                "Where records go.",
	"Spec.dead_letter":           "File that on_error: dead_letter writes failed records to, one JSON line each.",
	"Spec.defaults":              "Policies for stages that do not set their own.",
	"Spec.stages":                "The stages, in order.",
	"Spec.tests":                 "Test cases run by `pipe test`.",
	"InputSpec.type":             "stdin (default) or file.",
	"InputSpec.path":             "File name or glob (type: file), relative to the pipeline file; .gz and .zst are decompressed.",
	"InputSpec.codec":            "lines (default): one record per line; ndjson: one JSON value per line; raw: the whole input is one record.",
	"InputSpec.on_error":         "What to do with records the codec rejects.",
	"InputSpec.validate_utf8":    "Reject records that are not valid UTF-8.",
	"InputSpec.reject_nul":       "Reject records containing NUL bytes.",
	"OutputSpec.type":            "stdout (default) or file.",
	"OutputSpec.codec":           "Defaults to the input's codec.",
	"StageSpec.name":             "Unique stage name, used in errors, stats, logs and metrics.",
	"StageSpec.type":             "The stage kind.",
	"StageSpec.use":              "native: the name of a registered transformer (pipe stages lists them).",
	"StageSpec.path":             "Script, module, .so or executable, relative to the pipeline file.",
	"StageSpec.code":             "Inline script (lua, js); ${VAR} is not expanded here.",
	"StageSpec.config":           "Handed to the transformer, init() or the plugin, and checked by it.",
	"StageSpec.timeout":          "Per-record timeout, e.g. 250ms; 0 for none (default 5s).",
	"StageSpec.on_error":         "fail (default): stop; drop: count and go on; dead_letter: write the record to dead_letter and go on.",
	"StageSpec.workers":          "Parallel instances; the output order is kept.",
	"StageSpec.max_record_bytes": "Larger records entering the stage are record errors (default 1MiB).",
	"StageSpec.schema":           "JSON Schema (inline, or a file path) every record entering the stage must match.",
}

var enums = map[string][]string{
	"InputSpec.type":     {"stdin", "file"},
	"InputSpec.codec":    {CodecLines, CodecNDJSON, CodecRaw},
	"InputSpec.on_error": {OnErrorFail, OnErrorDrop, OnErrorDeadLetter},
	"OutputSpec.type":    {"stdout", "file"},
	"OutputSpec.codec":   {CodecLines, CodecNDJSON, CodecRaw},
	"StageSpec.on_error": {OnErrorFail, OnErrorDrop, OnErrorDeadLetter},
	"Defaults.on_error":  {OnErrorFail, OnErrorDrop, OnErrorDeadLetter},
}

// PipelineSchema returns a JSON Schema (draft 2020-12) of the pipeline file,
// for editors: the stage types are those of reg (DefaultRegistry if nil).
func PipelineSchema(reg *Registry) ([]byte, error) {
	if reg == nil {
		reg = DefaultRegistry
	}
	kinds := reg.Kinds()
	s := schemaOf(reflect.TypeFor[Spec](), "", kinds)
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = "https://github.com/pipe-dev/pipe/pipeline.schema.json"
	s["title"] = "pipe pipeline file"
	return json.MarshalIndent(s, "", "  ")
}

var (
	durationPattern = `^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`
	sizePattern     = `^[0-9]+(\.[0-9]+)?\s*([kKmMgG]i?[bB]?|[bB])?$`
)

func schemaOf(t reflect.Type, key string, kinds []string) map[string]any {
	switch t {
	case durationType:
		return map[string]any{"type": []string{"string", "integer"}, "pattern": durationPattern}
	case byteSizeType:
		return map[string]any{"type": []string{"string", "integer"}, "pattern": sizePattern}
	case configType:
		return map[string]any{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return schemaOf(t.Elem(), key, kinds)
	case reflect.String:
		s := map[string]any{"type": "string"}
		if e, ok := enums[key]; ok {
			s["enum"] = e
		}
		if key == "StageSpec.type" {
			s["enum"] = kinds
		}
		return s
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer", "minimum": 0}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), "", kinds)}
	case reflect.Struct:
		props := map[string]any{}
		open := false
		for i := range t.NumField() {
			name, rem := fieldName(t.Field(i))
			if rem {
				open = true // kind-specific fields (modules:, memory_limit:, ...)
				continue
			}
			if name == "" {
				continue
			}
			k := t.Name() + "." + name
			p := schemaOf(t.Field(i).Type, k, kinds)
			if d, ok := fieldDocs[k]; ok {
				p["description"] = d
			}
			props[name] = p
		}
		s := map[string]any{"type": "object", "properties": props, "additionalProperties": open}
		if t == reflect.TypeFor[StageSpec]() {
			s["required"] = []string{"name"} // type: comes from use: (a plugin or native transformer)
		}
		return s
	}
	return map[string]any{}
}
