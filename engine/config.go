package engine

// This file is the only one that imports the YAML library.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/internal/suggest"
	"github.com/pipe-dev/pipe/stage"
	"gopkg.in/yaml.v3"
)

// Config is a piece of configuration that remembers where each value came
// from: a stage's config: map, or the fields specific to a stage kind. Kinds
// and native transformers decode it with Decode, which rejects unknown fields
// and wrong types with FILE:LINE:COL errors.
//
// The zero Config is empty.
type Config struct {
	node *yaml.Node
	file string
	used *bool
}

// ConfigOf returns a Config holding v (a map, struct or scalar), for stages
// built in Go code.
func ConfigOf(v any) Config {
	if v == nil {
		return Config{}
	}
	if n := plainMapNode(v); n != nil {
		return Config{node: n, used: new(bool)}
	}
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		// Encode fails only for values YAML cannot represent (channels,
		// functions): a programmer error.
		panic(fmt.Sprintf("engine.ConfigOf: %v", err))
	}
	return Config{node: &n, used: new(bool)}
}

// plainMapNode is the node Node.Encode makes of v when v is a
// map[string]any of plain words (filter mode's --config to=upper), built
// without the YAML emitter and parser Encode runs (0.18 ms of every
// filter-mode start; bench/NOTES.md); nil for anything else. Keys are
// lower-case words (a letter, then letters, '_' and '-'), which the encoder
// sorts in byte order; values are strings written and read back as they
// are; like Encode's, the nodes have no position. TestPlainMapNodeMatchesEncode
// compares the two.
func plainMapNode(v any) *yaml.Node {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 || len(m) > 16 {
		return nil
	}
	keys := make([]string, 0, len(m))
	for k, x := range m {
		s, ok := x.(string)
		if !ok || !plainKey(k) || !plainString(k) || !plainString(s) {
			return nil
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: make([]*yaml.Node, 0, 2*len(keys))}
	for _, k := range keys {
		n.Content = append(n.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: m[k].(string)})
	}
	return n
}

// plainKey reports whether k is a lower-case word: a letter, then
// letters, '_' and '-', the keys whose YAML order is byte order.
func plainKey(k string) bool {
	if k == "" || k[0] < 'a' || k[0] > 'z' {
		return false
	}
	for i := 1; i < len(k); i++ {
		if c := k[i]; (c < 'a' || c > 'z') && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// plainString reports whether the YAML encoder writes s plain and the
// parser reads it back as the string s: plainDefault's characters, a
// string to the parser, and not one of YAML 1.1's booleans, which the
// encoder quotes.
func plainString(s string) bool {
	if !plainDefault(s) {
		return false
	}
	switch s {
	case "y", "Y", "yes", "Yes", "YES", "on", "On", "ON",
		"n", "N", "no", "No", "NO", "off", "Off", "OFF":
		return false
	}
	return (&yaml.Node{Kind: yaml.ScalarNode, Value: s}).ShortTag() == "!!str"
}

// ConfigType implements component.Typer: a Config field holds any YAML
// value, decoded later by its user.
func (Config) ConfigType() string { return component.Any }

// IsZero reports whether c holds nothing (absent or null).
func (c Config) IsZero() bool {
	n := resolve(c.node)
	return n == nil || n.Tag == "!!null" || (n.Kind == yaml.MappingNode && len(n.Content) == 0)
}

// scalar returns the Config's value when it is a single scalar.
func (c Config) scalar() (string, bool) {
	n := resolve(c.node)
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", false
	}
	return n.Value, true
}

// items returns the elements of a list Config.
func (c Config) items() []Config {
	n := resolve(c.node)
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]Config, len(n.Content))
	for i, e := range n.Content {
		out[i] = Config{node: e, file: c.file, used: new(bool)}
	}
	return out
}

func (c Config) mapOrScalar() bool {
	n := resolve(c.node)
	return n != nil && (n.Kind == yaml.MappingNode || n.Kind == yaml.ScalarNode)
}

// Keys returns the keys of a mapping Config in file order.
func (c Config) Keys() []string {
	n := resolve(c.node)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	keys := make([]string, 0, len(n.Content)/2)
	for i := 0; i < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
	}
	return keys
}

// Decode decodes c into v (a pointer to a struct, map, slice or scalar).
// Struct fields are matched by their `yaml` tag; a key with no field is an
// error naming the known fields. time.Duration fields take Go durations
// ("250ms"), ByteSize fields take sizes ("16MiB"), and so do fields of any
// int64 type whose ConfigType() is component.Size. The spec tags of package
// component are applied: a missing field takes its default:, a missing
// required:"true" field is an error, a string (or list of strings) outside
// its enum: is an error; also when c is absent, so a struct gets its
// defaults and its required fields checked without a config: block. Every
// error is reported (a ConfigErrors when there are several); each is a
// *ConfigError with the position of the offending value.
func (c Config) Decode(v any) error {
	if c.used != nil {
		*c.used = true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("engine: Config.Decode needs a non-nil pointer, got %T", v)
	}
	d := decoder{file: c.file}
	return d.decode(resolve(c.node), rv.Elem())
}

// Value returns c as plain Go values: map[string]any, []any, string, bool,
// int, float64 or nil. It is what scripts receive in init(config).
func (c Config) Value() (any, error) {
	if c.used != nil {
		*c.used = true
	}
	n := resolve(c.node)
	if n == nil {
		return nil, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, c.errAt(n, "%v", err)
	}
	return normalize(v), nil
}

// JSON returns c encoded as JSON ("null" when empty).
func (c Config) JSON() ([]byte, error) {
	v, err := c.Value()
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// Errorf returns a *ConfigError positioned at the value of key (or at the
// Config itself when key is "" or absent).
func (c Config) Errorf(key, format string, args ...any) error {
	n := resolve(c.node)
	if key != "" && n != nil && n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return c.errAt(n.Content[i+1], format, args...)
			}
		}
	}
	return c.errAt(n, format, args...)
}

// Position returns where c starts in its file (zero values when unknown).
func (c Config) Position() (file string, line, col int) {
	if n := resolve(c.node); n != nil {
		return c.file, n.Line, n.Column
	}
	return c.file, 0, 0
}

func (c Config) errAt(n *yaml.Node, format string, args ...any) error {
	e := &ConfigError{File: c.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Col = n.Line, n.Column
	}
	for _, a := range args {
		if err, ok := a.(error); ok {
			e.Err = err
		}
	}
	return e
}

func (c Config) decoded() bool { return c.used != nil && *c.used }

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	}
	return v
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch n.Kind {
		case yaml.DocumentNode:
			if len(n.Content) == 0 {
				return nil
			}
			n = n.Content[0]
		case yaml.AliasNode:
			n = n.Alias
		default:
			return n
		}
	}
	return nil
}

// ByteSize is a size in bytes that reads "16MiB", "64KiB", "1MB", "512" in a
// pipeline file.
type ByteSize int64

var sizeRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\s*([0-9]+(?:\.[0-9]+)?)\s*([A-Za-z]*)\s*$`) })

// ParseByteSize parses sizes such as "512", "64KiB", "16MiB", "1GB".
func ParseByteSize(s string) (ByteSize, error) {
	m := sizeRE().FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("invalid size %q (want e.g. 512, 64KiB, 16MiB)", s)
	}
	f, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	mult := map[string]float64{"": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 1 << 10, "m": 1e6, "mb": 1e6, "mib": 1 << 20,
		"g": 1e9, "gb": 1e9, "gib": 1 << 30}[strings.ToLower(m[2])]
	if mult == 0 {
		return 0, fmt.Errorf("invalid size unit %q in %q (want B, KB, KiB, MB, MiB, GB or GiB)", m[2], s)
	}
	if f*mult > math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return ByteSize(f * mult), nil
}

// ConfigType implements component.Typer: sizes are documented as "size".
func (ByteSize) ConfigType() string { return component.Size }

func (b ByteSize) String() string {
	switch {
	case b >= 1<<30 && b%(1<<30) == 0:
		return fmt.Sprintf("%dGiB", b>>30)
	case b >= 1<<20 && b%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", b>>20)
	case b >= 1<<10 && b%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", b>>10)
	}
	return strconv.FormatInt(int64(b), 10)
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	byteSizeType = reflect.TypeFor[ByteSize]()
	configType   = reflect.TypeFor[Config]()
	// A plugin's struct may take a nested value as a stage.Config.
	stageConfigType = reflect.TypeFor[stage.Config]()
)

// isSizeType reports whether t is an int64 type whose ConfigType is
// component.Size: a connector's own size type (connectors do not import
// the engine) decodes from "16MiB" like ByteSize.
func isSizeType(t reflect.Type) bool {
	typer := reflect.TypeFor[component.Typer]()
	return t.Kind() == reflect.Int64 && t.Implements(typer) && reflect.Zero(t).Interface().(component.Typer).ConfigType() == component.Size
}

type decoder struct{ file string }

func (d *decoder) errf(n *yaml.Node, format string, args ...any) error {
	return Config{file: d.file}.errAt(n, format, args...)
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!null":
		return "null"
	case "!!int", "!!float":
		return "the number " + n.Value
	case "!!bool":
		return n.Value
	}
	return strconv.Quote(n.Value)
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value) error {
	n = resolve(n)
	if n == nil {
		if v.Kind() == reflect.Struct && v.Type() != configType {
			// An absent section still gets its defaults and its
			// required fields checked.
			return d.decodeStruct(nil, v)
		}
		return nil
	}
	t := v.Type()
	if t != byteSizeType && isSizeType(t) {
		t = byteSizeType // an int64 that documents itself as a size: read like ByteSize
	}
	switch t {
	case configType, stageConfigType:
		v.Set(reflect.ValueOf(Config{node: n, file: d.file, used: new(bool)}))
		return nil
	case durationType:
		if n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.ScalarNode {
			return d.errf(n, "expected a duration such as 250ms or 5s, got %s", kindName(n))
		}
		if n.Value == "0" {
			v.SetInt(0)
			return nil
		}
		dur, err := time.ParseDuration(n.Value)
		if err != nil {
			return d.errf(n, "invalid duration %q (want e.g. 250ms, 5s, 1m)", n.Value)
		}
		if dur < 0 {
			return d.errf(n, "duration %q must not be negative", n.Value)
		}
		v.SetInt(int64(dur))
		return nil
	case byteSizeType:
		if n.Kind != yaml.ScalarNode {
			return d.errf(n, "expected a size such as 64KiB or 16MiB, got %s", kindName(n))
		}
		b, err := ParseByteSize(n.Value)
		if err != nil {
			return d.errf(n, "%v", err)
		}
		v.SetInt(int64(b))
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if n.Tag == "!!null" {
			v.SetZero()
			return nil
		}
		p := reflect.New(t.Elem())
		if err := d.decode(n, p.Elem()); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			return d.errf(n, "%v", err)
		}
		if x != nil {
			v.Set(reflect.ValueOf(normalize(x)))
		}
		return nil
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			return d.errf(n, "expected a string, got %s", kindName(n))
		}
		if n.Tag == "!!null" {
			return nil
		}
		v.SetString(n.Value)
		return nil
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
			return d.errf(n, "expected true or false, got %s", kindName(n))
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			return d.errf(n, "%v", err)
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return d.errf(n, "expected an integer, got %s", kindName(n))
		}
		i, err := strconv.ParseInt(strings.ReplaceAll(n.Value, "_", ""), 0, t.Bits())
		if err != nil {
			return d.errf(n, "integer %s out of range", n.Value)
		}
		v.SetInt(i)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
			return d.errf(n, "expected a non-negative integer, got %s", kindName(n))
		}
		i, err := strconv.ParseUint(strings.ReplaceAll(n.Value, "_", ""), 0, t.Bits())
		if err != nil {
			return d.errf(n, "expected a non-negative integer in range, got %s", n.Value)
		}
		v.SetUint(i)
		return nil
	case reflect.Float32, reflect.Float64:
		if n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") {
			return d.errf(n, "expected a number, got %s", kindName(n))
		}
		var f float64
		if err := n.Decode(&f); err != nil {
			return d.errf(n, "%v", err)
		}
		v.SetFloat(f)
		return nil
	case reflect.Slice:
		if n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return d.errf(n, "expected a list, got %s", kindName(n))
		}
		s := reflect.MakeSlice(t, len(n.Content), len(n.Content))
		var errs errList
		for i, e := range n.Content {
			if err := d.decode(e, s.Index(i)); err != nil && !d.collect(&errs, err) {
				return err
			}
		}
		v.Set(s)
		return errs.err()
	case reflect.Map:
		if n.Tag == "!!null" {
			return nil
		}
		if n.Kind != yaml.MappingNode {
			return d.errf(n, "expected a mapping, got %s", kindName(n))
		}
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("engine: cannot decode into %s", t)
		}
		m := reflect.MakeMapWithSize(t, len(n.Content)/2)
		var errs errList
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if m.MapIndex(reflect.ValueOf(k.Value).Convert(t.Key())).IsValid() {
				errs.add(d.errf(k, "duplicate key %q", k.Value))
				continue
			}
			e := reflect.New(t.Elem()).Elem()
			if err := d.decode(val, e); err != nil && !d.collect(&errs, err) {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k.Value).Convert(t.Key()), e)
		}
		v.Set(m)
		return errs.err()
	case reflect.Struct:
		return d.decodeStruct(n, v)
	}
	return fmt.Errorf("engine: cannot decode into %s", t)
}

// collect adds a config error to errs and reports true; other errors
// (a Go type the decoder cannot fill: a programmer error) stop decoding.
func (d *decoder) collect(errs *errList, err error) bool {
	if AllConfigErrors(err) == nil {
		return false
	}
	errs.add(err)
	return true
}

// structField is one decodable field of a struct: its tag and where it is.
type structField struct {
	tag   component.Tag
	index []int
}

// structFields lists the fields of struct type t, with those of inline
// (embedded) structs, and the index of its ,remain field (nil if none).
func structFields(t reflect.Type) (fields []structField, remain []int) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := component.ParseTag(sf)
		switch {
		case tag.Skip:
		case tag.Remain:
			remain = []int{i}
		case tag.Inline:
			inner, rem := structFields(sf.Type)
			for _, f := range inner {
				fields = append(fields, structField{f.tag, append([]int{i}, f.index...)})
			}
			if rem != nil {
				remain = append([]int{i}, rem...)
			}
		default:
			fields = append(fields, structField{tag, []int{i}})
		}
	}
	return fields, remain
}

// decodeStruct decodes mapping n (nil when absent) into struct v: every
// key must name a field (or go to the ,remain field); the tags' defaults
// fill absent fields, required fields must be present and enums hold.
// Every error of the mapping is reported, not only the first.
func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value) error {
	pos := n
	if n != nil && n.Tag == "!!null" {
		n = nil
	}
	if n != nil && n.Kind != yaml.MappingNode {
		return d.errf(n, "expected a mapping, got %s", kindName(n))
	}
	fields, remain := structFields(v.Type())
	byName := map[string]int{}
	var names []string
	for i, f := range fields {
		byName[f.tag.Name] = i
		names = append(names, f.tag.Name)
	}
	var errs errList
	seen, suggested := map[string]bool{}, map[string]bool{}
	var rest *yaml.Node
	var content []*yaml.Node
	if n != nil {
		content = n.Content
	}
	for i := 0; i+1 < len(content); i += 2 {
		k, val := content[i], content[i+1]
		if seen[k.Value] {
			errs.add(d.errf(k, "duplicate field %q", k.Value))
			continue
		}
		seen[k.Value] = true
		fi, ok := byName[k.Value]
		if !ok {
			if remain != nil {
				if rest == nil {
					rest = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: k.Line, Column: k.Column}
				}
				rest.Content = append(rest.Content, k, val)
				continue
			}
			errs.add(d.errf(k, "%s", suggest.UnknownField(k.Value, names)))
			if s := suggest.Closest(k.Value, names); s != "" {
				suggested[s] = true // a typo of a required field is one mistake, not two
			}
			continue
		}
		f := fields[fi]
		if err := d.decode(val, fieldByIndex(v, f.index)); err != nil {
			if !d.collect(&errs, err) {
				return err
			}
			continue
		}
		if err := d.checkEnum(val, f.tag, fieldByIndex(v, f.index)); err != nil {
			errs.add(err)
		}
	}
	for _, f := range fields {
		if seen[f.tag.Name] {
			continue
		}
		switch {
		case f.tag.Required && suggested[f.tag.Name]:
		case f.tag.Required:
			errs.add(d.errf(pos, "missing required field %q%s", f.tag.Name, enumHint(f.tag.Enum)))
		case f.tag.Default != "":
			dn, err := defaultNode(f.tag.Default)
			if err != nil {
				return fmt.Errorf("engine: field %s: invalid default %q: %w", f.tag.Name, f.tag.Default, err)
			}
			if err := d.decode(dn, fieldByIndex(v, f.index)); err != nil {
				return fmt.Errorf("engine: field %s: invalid default %q: %w", f.tag.Name, f.tag.Default, err)
			}
		}
	}
	if remain != nil && rest != nil {
		fieldByIndex(v, remain).Set(reflect.ValueOf(Config{node: rest, file: d.file, used: new(bool)}))
	}
	return errs.err()
}

// defaultNode returns a field's default (its `default:` tag) as the YAML
// document yaml.Unmarshal makes of it. A plain scalar that YAML reads as
// written (a letter or digit, then letters, digits, '.', '_' and '-') is
// built without the parser, tagged as the parser would (Node.ShortTag
// resolves it the same way): setting up a parser per defaulted field was
// about 0.25 ms of every start that decodes a pipeline and a connector
// (bench/NOTES.md). TestDefaultNodeMatchesParser compares the two.
func defaultNode(def string) (*yaml.Node, error) {
	if plainDefault(def) {
		s := &yaml.Node{Kind: yaml.ScalarNode, Value: def, Line: 1, Column: 1}
		s.Tag = s.ShortTag()
		return &yaml.Node{Kind: yaml.DocumentNode, Line: 1, Column: 1, Content: []*yaml.Node{s}}, nil
	}
	dn := new(yaml.Node)
	if err := yaml.Unmarshal([]byte(def), dn); err != nil {
		return nil, err
	}
	return dn, nil
}

// plainDefault reports whether def is a plain scalar of the characters
// defaultNode builds without the parser.
func plainDefault(def string) bool {
	if def == "" || !isAlnum(def[0]) {
		return false
	}
	for i := 1; i < len(def); i++ {
		if c := def[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// fieldByIndex is v.FieldByIndex, allocating nil embedded pointers.
func fieldByIndex(v reflect.Value, index []int) reflect.Value {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v
}

// checkEnum checks a decoded string field against its enum: tag.
func (d *decoder) checkEnum(n *yaml.Node, tag component.Tag, v reflect.Value) error {
	if len(tag.Enum) == 0 {
		return nil
	}
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.String {
		// A list of strings: each element is one of the enum.
		n = resolve(n)
		for i := range v.Len() {
			if e := v.Index(i).String(); !slices.Contains(tag.Enum, e) {
				at := n
				if n != nil && i < len(n.Content) {
					at = n.Content[i]
				}
				return d.errf(at, "%s: %q is not allowed (want %s)", tag.Name, e, orList(tag.Enum))
			}
		}
		return nil
	}
	if v.Kind() != reflect.String || slices.Contains(tag.Enum, v.String()) {
		return nil
	}
	return d.errf(resolve(n), "%s must be %s, got %q", tag.Name, orList(tag.Enum), v.String())
}

// orList joins values as "a, b or c".
func orList(values []string) string {
	if len(values) < 2 {
		return strings.Join(values, "")
	}
	return strings.Join(values[:len(values)-1], ", ") + " or " + values[len(values)-1]
}

func enumHint(enum []string) string {
	if len(enum) == 0 {
		return ""
	}
	return " (" + orList(enum) + ")"
}

// DecodeYAML strictly decodes a YAML document (a plugin manifest, say) into
// v, with the same rules and FILE:LINE:COL errors as pipeline files: unknown
// fields and wrong types are errors; ${VAR} is not expanded.
func DecodeYAML(data []byte, file string, v any) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return &ConfigError{File: file, Line: 1, Col: 1, Msg: strings.TrimPrefix(err.Error(), "yaml: "), Err: err}
	}
	root := resolve(&doc)
	if root == nil || root.Kind == 0 || root.Tag == "!!null" {
		return &ConfigError{File: file, Line: 1, Col: 1, Msg: "empty document"}
	}
	if err := checkAliases(file, root); err != nil {
		return err
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("engine: DecodeYAML needs a non-nil pointer, got %T", v)
	}
	d := decoder{file: file}
	return d.decode(root, rv.Elem())
}

// LookupEnv looks up an environment variable; os.LookupEnv is the default.
type LookupEnv func(name string) (string, bool)

var lineRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line (\d+)`) })

// parseSpec parses a pipeline file's bytes.
// Every error of the file is reported (a ConfigErrors when there are
// several): those of the pipeline's own fields and, checked against the
// specs of reg, those of each stage's kind fields and native config.
func parseSpec(data []byte, file string, lookup LookupEnv, reg *Registry) (*Spec, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		e := &ConfigError{File: file, Line: 1, Col: 1, Msg: strings.TrimPrefix(err.Error(), "yaml: "), Err: err}
		if m := lineRE().FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = strings.TrimSpace(lineRE().ReplaceAllString(e.Msg, ""))
			e.Msg = strings.TrimPrefix(e.Msg, ": ")
			// yaml.v3 prints the 0-based line for parser errors (and no
			// line at all for line 0), the 1-based line for scanner errors.
			if strings.HasPrefix(e.Msg, "did not find expected") {
				e.Line++
			}
		}
		return nil, e
	}
	root := resolve(&doc)
	if root == nil || root.Kind == 0 || root.Tag == "!!null" {
		return nil, &ConfigError{File: file, Line: 1, Col: 1, Msg: "empty pipeline file (want a mapping with input, stages and output)"}
	}
	if root.Kind != yaml.MappingNode {
		return nil, (&decoder{file}).errf(root, "a pipeline file must be a mapping, got %s", kindName(root))
	}
	if err := checkAliases(file, root); err != nil {
		return nil, err
	}
	if err := expandTree(file, root, lookup, 0, map[expanded]bool{}); err != nil {
		return nil, err
	}
	spec := &Spec{File: file}
	d := decoder{file: file}
	var errs errList
	if err := d.decode(root, reflect.ValueOf(spec).Elem()); err != nil && !d.collect(&errs, err) {
		return nil, err
	}
	// Remember where each part was, for later errors.
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], resolve(root.Content[i+1])
		switch k.Value {
		case "stages":
			if v != nil && v.Kind == yaml.SequenceNode {
				for j, s := range v.Content {
					if j < len(spec.Stages) {
						spec.Stages[j].src = Config{node: s, file: file}
					}
				}
			}
		case "input":
			spec.Input.src = Config{node: v, file: file}
		case "outputs":
			if v != nil && v.Kind == yaml.MappingNode {
				spec.outputSrc = map[string]Config{}
				for j := 0; j+1 < len(v.Content); j += 2 {
					spec.outputSrc[v.Content[j].Value] = Config{node: v.Content[j+1], file: file}
				}
			}
		case "output":
			spec.Output.src = Config{node: v, file: file}
		case "dead_letter":
			if spec.DeadLetter != nil {
				spec.DeadLetter.src = Config{node: v, file: file}
			}
		case "defaults":
			spec.Defaults.src = Config{node: v, file: file}
		}
	}
	spec.src = Config{node: root, file: file}
	attachRouteSrc(spec.Stages, file)
	if err := checkStages(spec, reg); err != nil && !d.collect(&errs, err) {
		return nil, err
	}
	if err := errs.err(); err != nil {
		return nil, err
	}
	return spec, nil
}

// MaxExpandedNodes bounds the size of a YAML document with its aliases
// expanded: a file whose aliases multiply it beyond this many nodes (a
// "billion laughs" file) is a configuration error, found in time linear in
// the file's size.
const MaxExpandedNodes = 1 << 20

// checkAliases refuses a document that its aliases expand beyond
// MaxExpandedNodes nodes. Each node is sized once (memoized), so a hostile
// file costs time linear in its own size, not in its expansion.
func checkAliases(file string, root *yaml.Node) error {
	memo := map[*yaml.Node]int64{}
	var size func(n *yaml.Node) int64
	size = func(n *yaml.Node) int64 {
		if n == nil {
			return 0
		}
		if s, ok := memo[n]; ok {
			return s
		}
		memo[n] = MaxExpandedNodes + 1 // an alias cycle counts as too big
		s := int64(1)
		if n.Kind == yaml.AliasNode {
			s += size(n.Alias)
		}
		for _, c := range n.Content {
			if s += size(c); s > MaxExpandedNodes {
				break
			}
		}
		s = min(s, MaxExpandedNodes+1)
		memo[n] = s
		return s
	}
	if size(root) > MaxExpandedNodes {
		return (&decoder{file}).errf(root, "the file's aliases expand it to more than %d values (an alias bomb?): use fewer or smaller aliases", MaxExpandedNodes)
	}
	return nil
}

// expanded is a node expandTree has seen at a depth.
type expanded struct {
	n     *yaml.Node
	depth int
}

// expandTree expands ${VAR}, ${VAR:-default} and ${VAR:?message} in every
// scalar value. depth 2 marks the mappings of stages, whose code: is left
// alone (JavaScript template literals use ${...} too). done holds the nodes
// already expanded: a node that aliases reach several times is expanded
// once.
func expandTree(file string, n *yaml.Node, lookup LookupEnv, depth int, done map[expanded]bool) error {
	n = resolve(n)
	if n == nil || done[expanded{n, depth}] {
		return nil
	}
	done[expanded{n, depth}] = true
	switch n.Kind {
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return nil
		}
		out, err := expandEnv(n.Value, lookup)
		if err != nil {
			return (&decoder{file}).errf(n, "%v", err)
		}
		if out != n.Value {
			whole := envRefRE().MatchString(n.Value)
			n.Value = out
			// A plain value, or one that is wholly a ${VAR} reference
			// (quoted or not), takes the type of what it expands to:
			// workers: "${N}" is a number.
			if n.Style == 0 || n.Style == yaml.TaggedStyle || whole {
				var tmp yaml.Node
				if yaml.Unmarshal([]byte(out), &tmp) == nil {
					if r := resolve(&tmp); r != nil && r.Kind == yaml.ScalarNode {
						n.Tag = r.Tag
					}
				} else {
					n.Tag = "!!str"
				}
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if depth == 2 && k == "code" {
				continue
			}
			next := -1
			if depth == 0 && k == "stages" {
				next = 1
			}
			if err := expandTree(file, n.Content[i+1], lookup, next, done); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		next := -1
		if depth == 1 {
			next = 2
		}
		for _, c := range n.Content {
			if err := expandTree(file, c, lookup, next, done); err != nil {
				return err
			}
		}
	}
	return nil
}

var envRefRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*(:[-?][^}]*)?\}$`) })

var errUnclosed = errors.New("unclosed ${ in value")

// expandEnv expands ${VAR}, ${VAR:-default}, ${VAR:?message}; $${ is a literal ${.
func expandEnv(s string, lookup LookupEnv) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "$")
		if i < 0 || i == len(s)-1 {
			b.WriteString(s)
			return b.String(), nil
		}
		b.WriteString(s[:i])
		s = s[i:]
		switch {
		case strings.HasPrefix(s, "$${"):
			b.WriteString("${")
			s = s[3:]
			continue
		case !strings.HasPrefix(s, "${"):
			b.WriteByte('$')
			s = s[1:]
			continue
		}
		end := strings.IndexByte(s, '}')
		if end < 0 {
			return "", errUnclosed
		}
		expr := s[2:end]
		s = s[end+1:]
		name, op, arg := expr, "", ""
		if j := strings.Index(expr, ":"); j >= 0 && j+1 < len(expr) && (expr[j+1] == '-' || expr[j+1] == '?') {
			name, op, arg = expr[:j], expr[j:j+2], expr[j+2:]
		}
		if !validEnvName(name) {
			return "", fmt.Errorf("invalid environment variable reference ${%s}", expr)
		}
		val, ok := lookup(name)
		switch {
		case ok && val != "":
			b.WriteString(val)
		case op == ":-":
			b.WriteString(arg)
		case op == ":?":
			if arg == "" {
				arg = "is required"
			}
			return "", fmt.Errorf("environment variable %s: %s", name, arg)
		case ok:
			// set but empty
		default:
			return "", fmt.Errorf("environment variable %s is not set (use ${%s:-default} for a default, $${%s} for a literal)", name, name, name)
		}
	}
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// encodeYAML renders an ordered document (see yamlKV) as YAML: it is how
// Plan.YAML prints a plan without a second file importing the YAML library.
func encodeYAML(doc []yamlKV) ([]byte, error) {
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	root, err := yamlMapping(doc)
	if err != nil {
		return nil, err
	}
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	enc.Close()
	return []byte(b.String()), nil
}

func yamlMapping(kvs []yamlKV) (*yaml.Node, error) {
	str := func(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for _, kv := range kvs {
		var v *yaml.Node
		switch x := kv.Value.(type) {
		case string:
			if x != "" {
				v = str(x)
			}
		case yamlLiteral:
			v = &yaml.Node{Kind: yaml.ScalarNode, Value: string(x)}
		case yamlCode:
			if x != "" {
				v = str(string(x))
				if strings.Contains(string(x), "\n") {
					v.Style = yaml.LiteralStyle
				}
			}
		case yamlJSON:
			if x == "" {
				continue
			}
			var doc yaml.Node
			if err := yaml.Unmarshal([]byte(x), &doc); err != nil {
				return nil, err
			}
			v = resolve(&doc)
			plainStyle(v)
			if kv.Key == "" { // inline the mapping's entries
				if v.Kind == yaml.MappingNode {
					m.Content = append(m.Content, v.Content...)
				}
				continue
			}
			if v.Kind == yaml.MappingNode || v.Kind == yaml.SequenceNode {
				v.Style = yaml.FlowStyle
			}
		case []yamlKV:
			var err error
			if v, err = yamlMapping(x); err != nil {
				return nil, err
			}
		case [][]yamlKV:
			v = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for _, e := range x {
				n, err := yamlMapping(e)
				if err != nil {
					return nil, err
				}
				v.Content = append(v.Content, n)
			}
		}
		if v == nil {
			continue
		}
		k := str(kv.Key)
		k.LineComment = kv.Comment
		m.Content = append(m.Content, k, v)
	}
	return m, nil
}

// plainStyle drops the quoting of JSON text, so that the emitter quotes
// only what YAML needs quoted.
func plainStyle(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		n.Style = 0
	}
	for _, c := range n.Content {
		plainStyle(c)
	}
}

// connectorConfig returns the fields of an input or output section that its
// connector decodes: extra (those the engine does not take) and path:,
// taken from the section src with its position, or made from path when it
// was set in code or on the command line (--input, --output).
func connectorConfig(src, extra Config, path string) Config {
	file := firstNonEmpty(extra.file, src.file)
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if n := resolve(src.node); n != nil {
		out.Line, out.Column = n.Line, n.Column
	}
	if path != "" {
		var val *yaml.Node
		if n := resolve(src.node); n != nil && n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "path" && n.Content[i+1].Value == path {
					out.Content = append(out.Content, n.Content[i], n.Content[i+1])
					val = n.Content[i+1]
				}
			}
		}
		if val == nil {
			out.Content = append(out.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "path", Line: out.Line, Column: out.Column},
				&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: path, Line: out.Line, Column: out.Column})
		}
	}
	if n := resolve(extra.node); n != nil && n.Kind == yaml.MappingNode {
		out.Content = append(out.Content, n.Content...)
	}
	return Config{node: out, file: file, used: new(bool)}
}
