package engine

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/pipe-dev/pipe/internal/jsonschema"
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
	msg, _ := violation(sch, v)
	if msg == "" {
		return nil
	}
	return fmt.Errorf("%w %s", ErrSchema, msg)
}

// violation validates v against sch; it returns "" when v matches, else
// what is wrong (up to three places: "at /level: ... (schema /properties/level/enum)")
// and the instance path of the first problem.
func violation(sch *jsonschema.Schema, v any) (msg string, first []string) {
	err := sch.Validate(v)
	if err == nil {
		return "", nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error(), nil
	}
	var parts []string
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 && first == nil {
			first = e.InstanceLocation
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	var units func(u *jsonschema.OutputUnit)
	units = func(u *jsonschema.OutputUnit) {
		if u.Error != nil && len(u.Errors) == 0 {
			inst := u.InstanceLocation
			if inst == "" {
				inst = "/"
			}
			parts = append(parts, fmt.Sprintf("at %s: %s (schema %s)", inst, u.Error.String(), u.KeywordLocation))
		}
		for i := range u.Errors {
			units(&u.Errors[i])
		}
	}
	units(ve.BasicOutput())
	if len(parts) == 0 {
		return strings.ReplaceAll(ve.Error(), "\n", "; "), first
	}
	if len(parts) > 3 {
		parts = append(parts[:3], fmt.Sprintf("and %d more", len(parts)-3))
	}
	return strings.Join(parts, "; "), first
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
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return s.Errorf("config", "%v", err)
	}
	msg, first := violation(sch, v)
	if msg == "" {
		return nil
	}
	if len(first) > 0 && !s.Config.IsZero() {
		return s.Config.Errorf(first[0], "config of plugin %s %s: %s", p.Name, p.Version, msg)
	}
	return s.Errorf("config", "config of plugin %s %s: %s", p.Name, p.Version, msg)
}
