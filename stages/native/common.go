package native

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/jsonkey"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
)

// errNotJSON fails records that a field-based transformer cannot read.
var errNotJSON = errors.New("record is not a JSON value (field-based transformers need codec: ndjson)")

// checkPath validates a dotted path for reading and writing.
func checkPath(cfg engine.Config, key, path string) error {
	if path == "" {
		return cfg.Errorf(key, "%s must not be empty", key)
	}
	if strings.ContainsAny(path, "*?#|@") {
		return cfg.Errorf(key, "path %q: wildcards, queries and modifiers (* ? # | @) are not supported here; use a plain dotted path such as user.name or tags.0", path)
	}
	if strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
		return cfg.Errorf(key, "path %q has an empty segment", path)
	}
	return nil
}

// compile compiles a regexp config value with a positioned error.
func compile(cfg engine.Config, key, pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, cfg.Errorf(key, "%s is required", key)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, cfg.Errorf(key, "invalid regexp %q: %v", pattern, unwrapRegexp(err))
	}
	return re, nil
}

func unwrapRegexp(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return fmt.Sprintf("%s: `%s`", se.Code, se.Expr)
	}
	return err.Error()
}

// field returns the value at path in a JSON record. Records under the
// ndjson codec were validated by the input, so only their shape is checked
// here: a record that does not start like a JSON object or array fails, and
// so does one where a key on path occurs twice in its object (a stage never
// chooses between repeated keys: see package jsonkey).
func field(data []byte, path string) (gjson.Result, error) {
	i := 0
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r') {
		i++
	}
	if i == len(data) || (data[i] != '{' && data[i] != '[') {
		return gjson.Result{}, errNotJSON
	}
	if err := jsonkey.Path(data, path); err != nil {
		return gjson.Result{}, err
	}
	return gjson.GetBytes(data, path), nil
}

// fieldText returns the text a regexp or case transform works on: a string
// field's value, or any other value's JSON text.
func fieldText(r gjson.Result) string {
	if r.Type == gjson.String {
		return r.Str
	}
	return r.Raw
}

// editString replaces the string at path with f of it; a missing or
// non-string field is left alone. Bytes that are not valid UTF-8 are written
// as they are (sjson would turn them into U+FFFD).
func editString(r *engine.Record, path string, f func(string) string) error {
	v, err := field(r.Data, path)
	if err != nil {
		return err
	}
	if v.Type != gjson.String {
		return nil
	}
	if s := f(v.Str); s != v.Str {
		r.Data, err = sjson.SetRawBytes(r.Data, path, appendStringKeep(nil, s))
	}
	return err
}

// appendEscapedASCII appends the JSON escape of the ASCII byte c (a quote,
// a backslash or a control character).
func appendEscapedASCII(dst []byte, c byte) []byte {
	switch c {
	case '"', '\\':
		return append(dst, '\\', c)
	case '\n':
		return append(dst, '\\', 'n')
	case '\r':
		return append(dst, '\\', 'r')
	case '\t':
		return append(dst, '\\', 't')
	}
	return append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
}

// appendStringKeep appends s as a JSON string, escaping what JSON requires
// and keeping every byte from 0x80 up as it is, valid UTF-8 or not.
func appendStringKeep(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = appendEscapedASCII(append(dst, s[start:i]...), c)
		start = i + 1
	}
	return append(append(dst, s[start:]...), '"')
}
