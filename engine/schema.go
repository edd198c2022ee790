package engine

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ErrSchema is the cause of a record failure when a record does not match
// its stage's schema: (a JSON Schema, draft 2020-12 unless the schema's
// $schema says otherwise).
var ErrSchema = errors.New("schema violation")

// compileSchema compiles a stage's schema: once per stage, in Load. The
// schema is inline (a mapping) or a file path relative to the pipeline file.
func compileSchema(s *StageSpec) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	loc := ""
	if path, ok := s.Schema.scalar(); ok {
		loc = s.Resolve(path)
	} else {
		raw, err := s.Schema.JSON()
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			return nil, s.Errorf("schema", "schema: %v", err)
		}
		loc = "stage-" + s.Name + ".schema.json"
		if err := c.AddResource(loc, doc); err != nil {
			return nil, s.Errorf("schema", "schema: %v", err)
		}
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, s.Errorf("schema", "invalid schema: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return sch, nil
}

// checkSchema validates one record against sch.
func checkSchema(sch *jsonschema.Schema, data []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("%w: record is not JSON: %v", ErrSchema, err)
	}
	err = sch.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("%w: %v", ErrSchema, err)
	}
	var parts []string
	var walk func(u *jsonschema.OutputUnit)
	walk = func(u *jsonschema.OutputUnit) {
		if u.Error != nil && len(u.Errors) == 0 {
			inst := u.InstanceLocation
			if inst == "" {
				inst = "/"
			}
			parts = append(parts, fmt.Sprintf("at %s: %s (schema %s)", inst, u.Error.String(), u.KeywordLocation))
		}
		for i := range u.Errors {
			walk(&u.Errors[i])
		}
	}
	walk(ve.BasicOutput())
	if len(parts) == 0 {
		return fmt.Errorf("%w: %s", ErrSchema, strings.ReplaceAll(ve.Error(), "\n", "; "))
	}
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("and %d more", len(parts)-3))
	}
	return fmt.Errorf("%w %s", ErrSchema, strings.Join(parts, "; "))
}

// checkConfigSchema validates a stage's config: against its plugin's
// schema; a violation is a config error at the offending config field.
func checkConfigSchema(s *StageSpec, p ResolvedPlugin) error {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(p.ConfigSchema))
	if err != nil {
		return s.Errorf("use", "plugin %s %s: its config schema is not JSON: %v", p.Name, p.Version, err)
	}
	loc := "plugin-" + p.Name + ".schema.json"
	if err := c.AddResource(loc, doc); err != nil {
		return s.Errorf("use", "plugin %s %s: config schema: %v", p.Name, p.Version, err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return s.Errorf("use", "plugin %s %s: invalid config schema: %s", p.Name, p.Version, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	raw := []byte("{}") // no config: is an empty one
	if !s.Config.IsZero() {
		if raw, err = s.Config.JSON(); err != nil {
			return err
		}
	}
	if err := checkSchema(sch, raw); err != nil {
		var ve *jsonschema.ValidationError
		field := "config"
		cfg := s.Config
		vErr := sch.Validate(mustJSON(raw))
		if errors.As(vErr, &ve) && len(ve.InstanceLocation) > 0 && !cfg.IsZero() {
			return cfg.Errorf(ve.InstanceLocation[0], "config of plugin %s %s: %s", p.Name, p.Version, strings.TrimPrefix(err.Error(), ErrSchema.Error()+" "))
		}
		for _, leaf := range leaves(vErr) {
			if len(leaf) > 0 && !cfg.IsZero() {
				return cfg.Errorf(leaf[0], "config of plugin %s %s: %s", p.Name, p.Version, strings.TrimPrefix(err.Error(), ErrSchema.Error()+" "))
			}
		}
		return s.Errorf(field, "config of plugin %s %s: %s", p.Name, p.Version, strings.TrimPrefix(err.Error(), ErrSchema.Error()+" "))
	}
	return nil
}

func mustJSON(raw []byte) any {
	v, _ := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	return v
}

// leaves returns the instance locations of a validation error's causes.
func leaves(err error) [][]string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil
	}
	var out [][]string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, e.InstanceLocation)
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}
