// Package component describes the configurable parts of pipe: native
// transformers, stage kinds, inputs, outputs and codecs. Each registers one
// Spec: its fields with their types, defaults, enums, examples and a line of
// doc each. The spec is the one source for decoding a pipeline file (unknown
// fields, types, enums, required fields and defaults), for `pipe schema`,
// for `pipe stages NAME` / `pipe docs NAME` and for the generated reference
// pages under docs/reference.
//
// A spec's fields are reflected from the Go struct a component decodes its
// configuration into, so the struct and its documentation cannot drift:
//
//	type caseConfig struct {
//		To    string `yaml:"to" required:"true" enum:"upper,lower" doc:"The case to convert to."`
//		Field string `yaml:"field" example:"msg" doc:"A JSON string field to convert; the whole record if empty."`
//	}
//
// The tags read are:
//
//   - yaml: the field's name ("-" skips it; ",inline" merges an embedded
//     struct's fields; ",remain" collects the fields the struct does not
//     name, and is not itself a field);
//   - doc: one line of documentation (required by the reference tests);
//   - default: the value a missing field takes, as YAML ("5s", "100000");
//     decoding applies it;
//   - enum: the comma-separated values a string field accepts;
//   - required: "true" when the field must be given;
//   - example: an example value, as YAML.
//
// The package depends on the standard library alone.
package component

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Class says what part of a pipeline a component is.
type Class string

// The classes of components.
const (
	ClassNative Class = "native" // a native transformer: type: native, use: NAME
	ClassKind   Class = "kind"   // a stage kind: type: NAME
	ClassInput  Class = "input"  // input: {type: NAME}
	ClassOutput Class = "output" // output: {type: NAME}
	ClassCodec  Class = "codec"  // input: {codec: NAME}, output: {codec: NAME}
	ClassStep   Class = "step"   // a step of a chain that is not a stage: switch, fanout
)

// Classes lists the classes in the order references show them.
var Classes = []Class{ClassInput, ClassCodec, ClassKind, ClassNative, ClassStep, ClassOutput}

// Spec describes one component.
type Spec struct {
	Class   Class
	Name    string
	Summary string // one line
	// Doc is a longer description in Markdown (may be empty).
	Doc string
	// Fields are the component's configuration fields: for a native
	// transformer those of its config: mapping, for a stage kind the fields
	// it adds to a stage (modules:, memory_limit:, ...), for an input or
	// output those of its section.
	Fields []Field
	// Open is true when the component did not describe its configuration:
	// any fields are accepted by the spec, and the component checks them
	// itself when it is built.
	Open bool
	// Examples show the component in a pipeline file.
	Examples []Example
}

// Example is a titled piece of a pipeline file.
type Example struct {
	Title string
	YAML  string
}

// Field types.
const (
	String   = "string"
	Integer  = "integer"
	Number   = "number"
	Boolean  = "boolean"
	Duration = "duration" // a Go duration: 250ms, 5s, 1m; 0 for none
	Size     = "size"     // a byte size: 512, 64KiB, 16MiB
	List     = "list"
	Map      = "map"
	Object   = "object"
	Any      = "any"
)

// Field describes one configuration field.
type Field struct {
	Name string
	// Type is one of String, Integer, Number, Boolean, Duration, Size,
	// List (of Items), Map (string keys to Items), Object (with Fields) or
	// Any.
	Type     string
	Items    *Field  // the element of a List or the value of a Map
	Fields   []Field // the fields of an Object
	Doc      string
	Default  string // YAML text; "" when the field has no default
	Enum     []string
	Required bool
	Example  string // YAML text
	// Open is true for an Object whose fields are not described.
	Open bool
}

// Lookup returns the field named name.
func (s Spec) Lookup(name string) (Field, bool) {
	for _, f := range s.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// Names returns the names of the spec's fields, sorted.
func (s Spec) Names() []string {
	names := make([]string, len(s.Fields))
	for i, f := range s.Fields {
		names[i] = f.Name
	}
	slices.Sort(names)
	return names
}

// ID is CLASS/NAME, unique among the registered components.
func (s Spec) ID() string { return string(s.Class) + "/" + s.Name }

// TypeName is how references print a field's type: "string",
// "list of string", "map of integer", ...
func (f Field) TypeName() string {
	switch f.Type {
	case List, Map:
		if f.Items != nil && f.Items.Type != Any {
			return f.Type + " of " + f.Items.TypeName()
		}
	}
	return f.Type
}

// Typer is implemented by types that decode from a YAML scalar of their own
// format (engine.ByteSize says Size); reflection reads their Type from it.
type Typer interface {
	ConfigType() string
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	typerType    = reflect.TypeFor[Typer]()
)

// FieldsOf reflects the fields of the struct config (or a pointer to
// one). A nil config has no fields.
func FieldsOf(config any) []Field {
	if config == nil {
		return nil
	}
	return FieldsOfType(reflect.TypeOf(config))
}

// FieldsOfType reflects the fields of struct type t (or a pointer to one).
func FieldsOfType(t reflect.Type) []Field {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []Field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := ParseTag(sf)
		switch {
		case tag.Skip, tag.Remain:
			continue
		case tag.Inline:
			out = append(out, FieldsOfType(sf.Type)...)
			continue
		}
		out = append(out, tag.Field(sf.Type))
	}
	return out
}

// Tag is what the struct tags of one field say.
type Tag struct {
	Name     string
	Skip     bool // yaml:"-" or unexported
	Inline   bool // yaml:",inline": an embedded struct's fields are this struct's
	Remain   bool // yaml:",remain": collects the fields not named
	Doc      string
	Default  string
	Enum     []string
	Required bool
	Example  string
}

// ParseTag reads the struct tags of sf. A field without a yaml name is
// named by its lower-cased Go name.
func ParseTag(sf reflect.StructField) Tag {
	vals := tagValues(sf.Tag)
	name, opts, _ := strings.Cut(vals[tagYAML], ",")
	t := Tag{Name: name}
	switch {
	case name == "-" || !sf.IsExported() && !(sf.Anonymous && opts == "inline"):
		t.Skip = true
		return t
	case opts == "remain":
		t.Remain = true
		return t
	case opts == "inline":
		t.Inline = true
		return t
	}
	if t.Name == "" {
		t.Name = strings.ToLower(sf.Name)
	}
	t.Doc = vals[tagDoc]
	t.Default = vals[tagDefault]
	t.Example = vals[tagExample]
	t.Required = vals[tagRequired] == "true"
	if e := vals[tagEnum]; e != "" {
		t.Enum = strings.Split(e, ",")
	}
	return t
}

// The struct tag keys ParseTag reads, as indexes of tagValues' result.
const (
	tagYAML = iota
	tagDoc
	tagDefault
	tagExample
	tagRequired
	tagEnum
	tagKeys
)

var tagKeyNames = [tagKeys]string{"yaml", "doc", "default", "example", "required", "enum"}

// tagValues returns tag.Get(key) of each key ParseTag reads, in one pass
// over the tag: six Gets scanned a field's long doc: text up to six times
// (reflect.StructTag.Lookup was the top self cost of decoding a pipeline
// at start-up; bench/NOTES.md). The scan is Lookup's: the first pair of a
// key wins, a pair whose value does not unquote gives "" for its key, a
// syntax error ends the tag.
func tagValues(tag reflect.StructTag) (vals [tagKeys]string) {
	var done [tagKeys]bool
	for tag != "" {
		i := 0
		for i < len(tag) && tag[i] == ' ' {
			i++
		}
		tag = tag[i:]
		if tag == "" {
			break
		}
		i = 0
		for i < len(tag) && tag[i] > ' ' && tag[i] != ':' && tag[i] != '"' && tag[i] != 0x7f {
			i++
		}
		if i == 0 || i+1 >= len(tag) || tag[i] != ':' || tag[i+1] != '"' {
			break
		}
		name := string(tag[:i])
		tag = tag[i+1:]
		i = 1
		for i < len(tag) && tag[i] != '"' {
			if tag[i] == '\\' {
				i++
			}
			i++
		}
		if i >= len(tag) {
			break
		}
		qvalue := string(tag[:i+1])
		tag = tag[i+1:]
		for k, key := range tagKeyNames {
			if key == name && !done[k] {
				done[k] = true
				if v, err := strconv.Unquote(qvalue); err == nil {
					vals[k] = v
				}
			}
		}
	}
	return vals
}

// Field returns the Field that tag t describes for a Go field of type typ.
func (t Tag) Field(typ reflect.Type) Field {
	f := typeField(typ)
	f.Name, f.Doc, f.Default, f.Required, f.Example = t.Name, t.Doc, t.Default, t.Required, t.Example
	if len(t.Enum) > 0 {
		f.Enum = t.Enum
	}
	return f
}

// typeField describes a Go type as a field type.
func typeField(t reflect.Type) Field {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(typerType) {
		return Field{Type: reflect.Zero(t).Interface().(Typer).ConfigType()}
	}
	if t == durationType {
		return Field{Type: Duration}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return typeField(t.Elem())
	case reflect.String:
		return Field{Type: String}
	case reflect.Bool:
		return Field{Type: Boolean}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return Field{Type: Integer}
	case reflect.Float32, reflect.Float64:
		return Field{Type: Number}
	case reflect.Slice, reflect.Array:
		items := typeField(t.Elem())
		return Field{Type: List, Items: &items}
	case reflect.Map:
		items := typeField(t.Elem())
		return Field{Type: Map, Items: &items}
	case reflect.Struct:
		f := Field{Type: Object, Fields: FieldsOfType(t)}
		for i := range t.NumField() {
			if ParseTag(t.Field(i)).Remain {
				f.Open = true
			}
		}
		return f
	}
	return Field{Type: Any}
}

// New returns the spec of a component whose configuration decodes into the
// struct config (its zero value, or a pointer to one). A nil config makes
// an open spec: the component accepts any fields and checks them itself.
func New(class Class, name, summary string, config any) Spec {
	s := Spec{Class: class, Name: name, Summary: summary}
	if config == nil {
		s.Open = true
		return s
	}
	s.Fields = FieldsOf(config)
	t := reflect.TypeOf(config)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		for i := range t.NumField() {
			if ParseTag(t.Field(i)).Remain {
				s.Open = true
			}
		}
	}
	return s
}

// Check reports what a spec leaves undocumented: fields without doc, enum
// values without a string type, defaults outside the enum. The reference
// tests run it over every registered component.
func (s Spec) Check() error {
	var problems []string
	if s.Summary == "" {
		problems = append(problems, "no summary")
	}
	var walk func(prefix string, fs []Field)
	walk = func(prefix string, fs []Field) {
		for _, f := range fs {
			if f.Doc == "" {
				problems = append(problems, fmt.Sprintf("field %s%s has no doc", prefix, f.Name))
			}
			if len(f.Enum) > 0 && f.Default != "" && !slices.Contains(f.Enum, f.Default) {
				problems = append(problems, fmt.Sprintf("field %s%s: default %q is not in its enum", prefix, f.Name, f.Default))
			}
			if f.Required && f.Default != "" {
				problems = append(problems, fmt.Sprintf("field %s%s is required and has a default", prefix, f.Name))
			}
			walk(prefix+f.Name+".", f.Fields)
		}
	}
	walk("", s.Fields)
	if len(problems) > 0 {
		return fmt.Errorf("component %s: %s", s.ID(), strings.Join(problems, "; "))
	}
	return nil
}
