package rpcplugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pipe-dev/pipe/stage"
)

// Config is the stage.Config a plugin's constructor receives: the stage's
// config: as the host sent it, JSON with sorted keys. It has no file
// positions: its errors (*stage.ConfigError) start with the key path of the
// offending value ("limits.max: expected an integer, got \"ten\""), and the
// host reports them at the stage's position in the pipeline file.
//
// Decode follows the rules of stage.Config.Decode as the host's own
// configuration does (matching by `yaml` tag, unknown fields and wrong
// types are errors, time.Duration from "250ms"), so one constructor
// decodes the same config: the same way compiled in, as a Go plugin or
// served over rpc.
type Config struct {
	v    any    // decoded JSON (numbers as json.Number)
	path string // key path from the root ("" at the root)
}

// ParseConfig returns the Config holding the JSON document data (the
// OpenRequest's config_json); empty data and "null" are an empty Config.
func ParseConfig(data []byte) (Config, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Config{}, nil
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return Config{}, &stage.ConfigError{Msg: "config is not JSON: " + err.Error(), Err: err}
	}
	if d.More() {
		return Config{}, &stage.ConfigError{Msg: "config is not one JSON value"}
	}
	return Config{v: v}, nil
}

// ConfigOf returns a Config holding v (maps, slices and scalars, as
// encoding/json would encode them), for tests of a plugin's constructor.
// It panics if v cannot be encoded as JSON (a programmer error).
func ConfigOf(v any) Config {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("rpcplugin.ConfigOf: %v", err))
	}
	c, err := ParseConfig(data)
	if err != nil {
		panic(fmt.Sprintf("rpcplugin.ConfigOf: %v", err))
	}
	return c
}

// IsZero reports whether c holds nothing (absent, null or an empty mapping).
func (c Config) IsZero() bool {
	if c.v == nil {
		return true
	}
	m, ok := c.v.(map[string]any)
	return ok && len(m) == 0
}

// Keys returns the keys of a mapping, sorted (the host sends them so);
// nil when c is not a mapping.
func (c Config) Keys() []string {
	m, ok := c.v.(map[string]any)
	if !ok {
		return nil
	}
	return slices.Sorted(maps.Keys(m))
}

// Value returns c as plain Go values: map[string]any, []any, string, bool,
// int (for integral numbers), float64 or nil.
func (c Config) Value() (any, error) { return plain(c.v), nil }

// JSON returns c encoded as JSON ("null" when empty).
func (c Config) JSON() ([]byte, error) { return json.Marshal(c.v) }

// Position returns zero values: a config received over rpc has no file
// position.
func (c Config) Position() (file string, line, col int) { return "", 0, 0 }

// Errorf returns a *stage.ConfigError whose message names the key path of
// key (or of c itself when key is "" or absent) and then
// fmt.Sprintf(format, args...). An error among args becomes its Err.
func (c Config) Errorf(key, format string, args ...any) error {
	p := c.path
	if m, ok := c.v.(map[string]any); ok && key != "" {
		if _, ok := m[key]; ok {
			p = join(p, key)
		}
	}
	e := &stage.ConfigError{Msg: prefix(p) + fmt.Sprintf(format, args...)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			e.Err = err
		}
	}
	return e
}

// Decode decodes c into v, a non-nil pointer, with the rules of
// stage.Config.Decode.
func (c Config) Decode(v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("rpcplugin: Config.Decode needs a non-nil pointer, got %T", v)
	}
	if c.v == nil {
		return nil
	}
	return decode(c.v, c.path, rv.Elem())
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func prefix(path string) string {
	if path == "" {
		return ""
	}
	return path + ": "
}

func errf(path, format string, args ...any) error {
	return &stage.ConfigError{Msg: prefix(path) + fmt.Sprintf(format, args...)}
}

func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := strconv.Atoi(x.String()); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = plain(e)
		}
		return m
	case []any:
		s := make([]any, len(x))
		for i, e := range x {
			s[i] = plain(e)
		}
		return s
	}
	return v
}

func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	case json.Number:
		return "the number " + x.String()
	case bool:
		return strconv.FormatBool(x)
	case string:
		return strconv.Quote(x)
	}
	return fmt.Sprintf("%T", v)
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	configType   = reflect.TypeFor[stage.Config]()
)

func decode(x any, path string, v reflect.Value) error {
	t := v.Type()
	switch t {
	case configType:
		v.Set(reflect.ValueOf(Config{v: x, path: path}))
		return nil
	case durationType:
		if x == nil {
			return nil
		}
		s, ok := x.(string)
		if n, isNum := x.(json.Number); isNum && n.String() == "0" {
			s, ok = "0", true
		}
		if !ok {
			return errf(path, "expected a duration such as 250ms or 5s, got %s", describe(x))
		}
		if s == "0" {
			v.SetInt(0)
			return nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return errf(path, "invalid duration %q (want e.g. 250ms, 5s, 1m)", s)
		}
		if d < 0 {
			return errf(path, "duration %q must not be negative", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if x == nil {
			v.SetZero()
			return nil
		}
		p := reflect.New(t.Elem())
		if err := decode(x, path, p.Elem()); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case reflect.Interface:
		if x == nil {
			return nil
		}
		pv := reflect.ValueOf(plain(x))
		if !pv.Type().AssignableTo(t) {
			return errf(path, "cannot decode %s into %s", describe(x), t)
		}
		v.Set(pv)
		return nil
	case reflect.String:
		switch s := x.(type) {
		case nil:
			return nil
		case string:
			v.SetString(s)
		case json.Number:
			v.SetString(s.String())
		case bool:
			v.SetString(strconv.FormatBool(s))
		default:
			return errf(path, "expected a string, got %s", describe(x))
		}
		return nil
	case reflect.Bool:
		b, ok := x.(bool)
		if !ok {
			return errf(path, "expected true or false, got %s", describe(x))
		}
		v.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := x.(json.Number)
		if !ok || strings.ContainsAny(n.String(), ".eE") {
			return errf(path, "expected an integer, got %s", describe(x))
		}
		i, err := strconv.ParseInt(n.String(), 10, t.Bits())
		if err != nil {
			return errf(path, "integer %s out of range", n)
		}
		v.SetInt(i)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := x.(json.Number)
		if !ok || strings.ContainsAny(n.String(), ".eE") {
			return errf(path, "expected a non-negative integer, got %s", describe(x))
		}
		i, err := strconv.ParseUint(n.String(), 10, t.Bits())
		if err != nil {
			return errf(path, "expected a non-negative integer in range, got %s", n)
		}
		v.SetUint(i)
		return nil
	case reflect.Float32, reflect.Float64:
		n, ok := x.(json.Number)
		if !ok {
			return errf(path, "expected a number, got %s", describe(x))
		}
		f, err := strconv.ParseFloat(n.String(), t.Bits())
		if err != nil {
			return errf(path, "number %s out of range", n)
		}
		v.SetFloat(f)
		return nil
	case reflect.Slice:
		if x == nil {
			return nil
		}
		l, ok := x.([]any)
		if !ok {
			return errf(path, "expected a list, got %s", describe(x))
		}
		s := reflect.MakeSlice(t, len(l), len(l))
		for i, e := range l {
			if err := decode(e, fmt.Sprintf("%s[%d]", path, i), s.Index(i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		if x == nil {
			return nil
		}
		m, ok := x.(map[string]any)
		if !ok {
			return errf(path, "expected a mapping, got %s", describe(x))
		}
		if t.Key().Kind() != reflect.String {
			return fmt.Errorf("rpcplugin: cannot decode into %s", t)
		}
		out := reflect.MakeMapWithSize(t, len(m))
		for _, k := range slices.Sorted(maps.Keys(m)) {
			e := reflect.New(t.Elem()).Elem()
			if err := decode(m[k], join(path, k), e); err != nil {
				return err
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(t.Key()), e)
		}
		v.Set(out)
		return nil
	case reflect.Struct:
		return decodeStruct(x, path, v)
	}
	return fmt.Errorf("rpcplugin: cannot decode into %s", t)
}

func fieldName(f reflect.StructField) (name string, remain bool) {
	tag := f.Tag.Get("yaml")
	name, opts, _ := strings.Cut(tag, ",")
	if name == "-" || !f.IsExported() {
		return "", false
	}
	if opts == "remain" {
		return "", true
	}
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, false
}

func decodeStruct(x any, path string, v reflect.Value) error {
	if x == nil {
		return nil
	}
	m, ok := x.(map[string]any)
	if !ok {
		return errf(path, "expected a mapping, got %s", describe(x))
	}
	t := v.Type()
	fields := map[string]int{}
	remain := -1
	var names []string
	for i := range t.NumField() {
		name, rem := fieldName(t.Field(i))
		if rem {
			remain = i
		} else if name != "" {
			fields[name] = i
			names = append(names, name)
		}
	}
	var rest map[string]any
	for _, k := range slices.Sorted(maps.Keys(m)) {
		fi, ok := fields[k]
		if !ok {
			if remain >= 0 {
				if rest == nil {
					rest = map[string]any{}
				}
				rest[k] = m[k]
				continue
			}
			return errf(path, "%s", unknownField(k, names))
		}
		if err := decode(m[k], join(path, k), v.Field(fi)); err != nil {
			return err
		}
	}
	if remain >= 0 && rest != nil {
		f := v.Field(remain)
		if !reflect.TypeFor[Config]().AssignableTo(f.Type()) {
			return fmt.Errorf("rpcplugin: a ,remain field must be a stage.Config, not %s", f.Type())
		}
		f.Set(reflect.ValueOf(Config{v: rest, path: path}))
	}
	return nil
}

// unknownField, closest and editDistance repeat internal/suggest: the
// plugin SDK may link only stage, its proto and itself (stage/deps_test.go).
func unknownField(name string, known []string) string {
	msg := fmt.Sprintf("unknown field %q", name)
	if s := closest(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	sorted := slices.Clone(known)
	slices.Sort(sorted)
	return msg + "; known fields: " + strings.Join(sorted, ", ")
}

// closest returns the candidate within edit distance 2 of s, if any.
func closest(s string, cands []string) string {
	best, bestD := "", 3
	for _, c := range cands {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var _ stage.Config = Config{}
