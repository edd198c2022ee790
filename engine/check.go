package engine

import (
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/pipe-dev/pipe/internal/suggest"
	"gopkg.in/yaml.v3"
)

// checkStages checks every stage of a parsed file against the specs of
// reg: the fields a stage's kind adds (modules:, memory_limit:, ...) and
// the config: of a native transformer. It reports every error of every
// stage, so that a file with three mistakes in three stages gets three
// positioned messages at once. Kinds and transformers registered without a
// spec are left to their builders.
func checkStages(sp *Spec, reg *Registry) error {
	if reg == nil {
		reg = DefaultRegistry
	}
	var errs errList
	errs.add(checkConnectorFields(sp, reg))
	for _, s := range sp.allStages() {
		if s.file == "" {
			s.file = sp.File
		}
		kind := s.Type
		name, _, versioned := strings.Cut(s.Use, "@")
		if kind == "" && !versioned && s.Use != "" {
			if _, ok := reg.LookupNative(name); ok {
				kind = nativeKind.Name
			}
		}
		k, ok := reg.KindSpec(kind)
		if !ok {
			continue // Build reports an unknown or missing type
		}
		errs.add(checkKindFields(s, k))
		if kind == nativeKind.Name && s.Use != "" && !versioned && s.Path == "" {
			if n, ok := reg.LookupNative(s.Use); ok && n.Config != nil {
				errs.add(checkNativeConfig(s, n.Config))
			}
		}
	}
	return errs.err()
}

// checkKindFields checks the fields of s that only its kind knows.
func checkKindFields(s *StageSpec, k KindSpec) error {
	n := resolve(s.Extra.node)
	if k.Options == nil || n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	t := reflect.TypeOf(k.Options)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	fields, _ := structFields(t)
	var known []string
	for _, f := range fields {
		known = append(known, f.tag.Name)
	}
	var errs errList
	valid := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i]
		if !slices.Contains(known, key.Value) {
			msg := suggest.UnknownField(key.Value, append(stageFields(), known...))
			errs.add(s.Extra.errAt(n.Content[i+1], "%s (for a %s stage)", msg, k.Name)) // at the value, as the builder reports it
			continue
		}
		valid.Content = append(valid.Content, key, n.Content[i+1])
	}
	d := decoder{file: s.Extra.file}
	errs.add(d.decode(valid, reflect.New(t).Elem()))
	return errs.err()
}

// checkNativeConfig decodes the stage's config: into a fresh value of the
// native transformer's config struct: unknown fields, types, enums and
// required fields, all at once.
func checkNativeConfig(s *StageSpec, config any) error {
	t := reflect.TypeOf(config)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	d := decoder{file: s.file}
	if s.Config.file != "" {
		d.file = s.Config.file
	}
	err := d.decode(resolve(s.Config.node), reflect.New(t).Elem())
	if err == nil {
		return nil
	}
	if AllConfigErrors(err) == nil {
		return fmt.Errorf("engine: native %s: %w", s.Use, err) // a programmer error in the config struct
	}
	return configErr(s, err)
}

// checkConnectorFields reports the fields of the input and output sections
// that neither the engine nor their type takes, at parse time (Build then
// decodes them through the type's constructor).
func checkConnectorFields(sp *Spec, reg *Registry) error {
	var errs errList
	check := func(extra Config, common any, config any) {
		n := resolve(extra.node)
		if n == nil || n.Kind != yaml.MappingNode {
			return
		}
		known := []string{"path"}
		for _, t := range []any{common, config} {
			if t == nil {
				continue
			}
			rt := reflect.TypeOf(t)
			for rt.Kind() == reflect.Pointer {
				rt = rt.Elem()
			}
			fields, _ := structFields(rt)
			for _, f := range fields {
				if !slices.Contains(known, f.tag.Name) {
					known = append(known, f.tag.Name)
				}
			}
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := n.Content[i]
			if !slices.Contains(known, key.Value) {
				errs.add(extra.errAt(key, "%s", suggest.UnknownField(key.Value, known)))
			}
		}
	}
	inType := firstNonEmpty(sp.Input.Type, "stdin")
	if t, ok := reg.InputType(inType); ok {
		check(sp.Input.Extra, inputCommon{}, t.Config)
	}
	outType := firstNonEmpty(sp.Output.Type, "stdout")
	if t, ok := reg.OutputType(outType); ok {
		check(sp.Output.Extra, outputCommon{}, t.Config)
	}
	return errs.err()
}
