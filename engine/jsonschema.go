package engine

import (
	"encoding/json"
	"slices"

	"github.com/pipe-dev/pipe/component"
	"gopkg.in/yaml.v3"
)

// PipelineSchema returns a JSON Schema (draft 2020-12) of the pipeline file,
// for editors. It is generated from the component specs of reg
// (DefaultRegistry if nil): the pipeline's own fields, the inputs, outputs
// and codecs, each stage kind's fields (if/then on type:), each native
// transformer's config: (if/then on use:) and the tests: section. Kinds and
// transformers registered without a spec are left open.
func PipelineSchema(reg *Registry) ([]byte, error) {
	if reg == nil {
		reg = DefaultRegistry
	}
	root := objectSchema(component.FieldsOf(Spec{}), false)
	props := root["properties"].(map[string]any)
	props["input"] = ioSchema(reg, component.ClassInput, InputSpec{}, "stdin")
	props["output"] = ioSchema(reg, component.ClassOutput, OutputSpec{}, "stdout")
	// A switch's branches hold stages too: the stage schema is a
	// definition that both lists refer to.
	stage := stageSchema(reg)
	ref := map[string]any{"$ref": "#/$defs/stage"}
	if br, ok := stage["properties"].(map[string]any)["branches"].(map[string]any); ok {
		if items, ok := br["items"].(map[string]any); ok {
			if bp, ok := items["properties"].(map[string]any); ok {
				bp["stages"] = map[string]any{"type": "array", "items": ref, "description": "The branch's stages, in order."}
			}
		}
	}
	root["$defs"] = map[string]any{"stage": stage}
	props["stages"].(map[string]any)["items"] = ref
	if outs, ok := props["outputs"].(map[string]any); ok {
		outs["additionalProperties"] = ioSchema(reg, component.ClassOutput, OutputSpec{}, "stdout")
	}
	props["tests"] = testsSchema()
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = "https://github.com/pipe-dev/pipe/pipeline.schema.json"
	root["title"] = "pipe pipeline file"
	return json.MarshalIndent(root, "", "  ")
}

var (
	durationPattern = `^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`
	sizePattern     = `^[0-9]+(\.[0-9]+)?\s*([kKmMgG]i?[bB]?|[bB])?$`
)

// fieldSchema is the JSON Schema of one field.
func fieldSchema(f component.Field) map[string]any {
	var s map[string]any
	switch f.Type {
	case component.String:
		s = map[string]any{"type": "string"}
		if len(f.Enum) > 0 {
			s["enum"] = f.Enum
		}
	case component.Integer:
		s = map[string]any{"type": "integer", "minimum": 0}
	case component.Number:
		s = map[string]any{"type": "number"}
	case component.Boolean:
		s = map[string]any{"type": "boolean"}
	case component.Duration:
		s = map[string]any{"type": []string{"string", "integer"}, "pattern": durationPattern}
	case component.Size:
		s = map[string]any{"type": []string{"string", "integer"}, "pattern": sizePattern}
	case component.List:
		items := map[string]any{}
		if f.Items != nil {
			items = fieldSchema(*f.Items)
		}
		if len(f.Enum) > 0 {
			items["enum"] = f.Enum
		}
		s = map[string]any{"type": "array", "items": items}
	case component.Map:
		vals := map[string]any{}
		if f.Items != nil {
			vals = fieldSchema(*f.Items)
		}
		s = map[string]any{"type": "object", "additionalProperties": vals}
	case component.Object:
		s = objectSchema(f.Fields, f.Open)
	default:
		s = map[string]any{}
	}
	if f.Doc != "" {
		s["description"] = f.Doc
	}
	if v, ok := yamlValue(f.Default); ok {
		s["default"] = v
	}
	if v, ok := yamlValue(f.Example); ok {
		s["examples"] = []any{v}
	}
	return s
}

// objectSchema is the schema of a mapping with fields fs; open allows
// other fields.
func objectSchema(fs []component.Field, open bool) map[string]any {
	props := map[string]any{}
	var req []string
	for _, f := range fs {
		props[f.Name] = fieldSchema(f)
		if f.Required {
			req = append(req, f.Name)
		}
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": open}
	if len(req) > 0 {
		s["required"] = req
	}
	return s
}

// yamlValue decodes a tag's YAML text into a JSON value.
func yamlValue(text string) (any, bool) {
	if text == "" {
		return nil, false
	}
	var v any
	if err := yaml.Unmarshal([]byte(text), &v); err != nil {
		return nil, false
	}
	return normalize(v), true
}

func names(specs []component.Spec) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.Name
	}
	return out
}

// typeIs is an if: matching a mapping whose key is value; def also matches
// a mapping without key.
func typeIs(key, value string, def bool) map[string]any {
	is := map[string]any{"properties": map[string]any{key: map[string]any{"const": value}}, "required": []string{key}}
	if !def {
		return is
	}
	return map[string]any{"anyOf": []any{is, map[string]any{"not": map[string]any{"required": []string{key}}}}}
}

// ioSchema is the schema of input: or output:, whose type: picks one of
// the registered components of class; each allows only its own fields.
func ioSchema(reg *Registry, class component.Class, section any, def string) map[string]any {
	all := component.FieldsOf(section)
	s := objectSchema(all, false)
	props := s["properties"].(map[string]any)
	specs := reg.SpecsOf(class)
	props["type"].(map[string]any)["enum"] = names(specs)
	props["codec"].(map[string]any)["enum"] = names(reg.SpecsOf(component.ClassCodec))
	var branches []any
	for _, c := range specs {
		allowed := []string{"type"}
		var req []string
		for _, f := range c.Fields {
			allowed = append(allowed, f.Name)
			if f.Required {
				req = append(req, f.Name)
			}
		}
		then := map[string]any{"propertyNames": map[string]any{"enum": allowed}, "description": c.Summary}
		if len(req) > 0 {
			then["required"] = req
		}
		branches = append(branches, map[string]any{"if": typeIs("type", c.Name, c.Name == def), "then": then})
	}
	if len(branches) > 0 {
		s["allOf"] = branches
	}
	return s
}

// stageSchema is the schema of one stage: the fields every stage has, and
// per kind (if type: is K) the kind's own fields; per native transformer
// (if use: is N and the type native or absent) the config: it takes.
func stageSchema(reg *Registry) map[string]any {
	common := component.FieldsOf(StageSpec{})
	s := objectSchema(common, true)
	s["required"] = []string{"name"} // type: may come from use: (a plugin or native transformer)
	props := s["properties"].(map[string]any)
	props["type"].(map[string]any)["enum"] = reg.Kinds()
	commonNames := make([]string, len(common))
	for i, f := range common {
		commonNames[i] = f.Name
	}
	var branches []any
	for _, k := range reg.KindSpecs() {
		spec := k.Spec()
		then := map[string]any{"description": spec.Summary}
		if len(spec.Fields) > 0 {
			then["properties"] = objectSchema(spec.Fields, true)["properties"]
		}
		if !spec.Open {
			then["propertyNames"] = map[string]any{"enum": append(slices.Clone(commonNames), spec.Names()...)}
		}
		branches = append(branches, map[string]any{"if": typeIs("type", k.Name, false), "then": then})
	}
	for _, n := range reg.Natives() {
		spec := n.Spec()
		cfg := map[string]any{"description": spec.Summary}
		if !spec.Open {
			cfg = objectSchema(spec.Fields, false)
			cfg["description"] = spec.Summary
		}
		then := map[string]any{"properties": map[string]any{"config": cfg},
			"propertyNames": map[string]any{"enum": commonNames}} // the native kind adds no fields
		if cfg["required"] != nil {
			then["required"] = []string{"config"}
		}
		branches = append(branches, map[string]any{
			"if": map[string]any{"allOf": []any{typeIs("use", n.Name, false), typeIs("type", nativeKind.Name, true)}}, "then": then})
	}
	if len(branches) > 0 {
		s["allOf"] = branches
	}
	return s
}

// testsSchema is the schema of the tests: section (see TestCase).
func testsSchema() map[string]any {
	record := map[string]any{"anyOf": []any{
		map[string]any{"type": "string", "description": "The record's bytes."},
		map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
			"data": map[string]any{"type": "string", "description": "The record's bytes."},
			"json": map[string]any{"description": "The record as a JSON value (compared as JSON)."},
			"meta": map[string]any{"type": "object", "additionalProperties": map[string]any{"type": "string"}, "description": "The record's metadata."},
		}},
	}}
	records := func(doc string) map[string]any {
		return map[string]any{"type": "array", "items": record, "description": doc}
	}
	count := func(doc string) map[string]any {
		return map[string]any{"type": "integer", "minimum": 0, "description": doc}
	}
	str := func(doc string) map[string]any { return map[string]any{"type": "string", "description": doc} }
	tc := map[string]any{"type": "object", "additionalProperties": false, "properties": map[string]any{
		"name":      str("Name of the case, shown when it fails."),
		"input":     records("Input records: text, or {data:|json:, meta:}."),
		"expect":    records("Expected output records, in order."),
		"from":      str("Run only the stages from this one..."),
		"to":        str("...to this one."),
		"dropped":   count("Records the stages must drop."),
		"errors":    count("Records that must fail (under drop or dead_letter)."),
		"error":     str("The run must fail with an error containing this text."),
		"unordered": map[string]any{"type": "boolean", "description": "Compare the outputs as a multiset."},
	}}
	return map[string]any{"type": "array", "items": tc, "description": "Test cases run by pipe test."}
}
