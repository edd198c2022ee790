package native

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "parse_regex", New: newParseRegex, Config: parseRegexConfig{},
		Summary: "parse a line (or a JSON string field) with a regular expression's named groups into a JSON object",
		Doc: "Each named group (`(?P<name>...)` or `(?<name>...)`, Go RE2 syntax) becomes a field, in the order of the groups in the " +
			"pattern. A group that did not take part in the match is left out; an empty one is \"\". The pattern is not anchored: " +
			"write `^...$` to match whole lines. A line the pattern does not match fails the record (`on_error`). " +
			"An anchored pattern whose every choice is decided by the next byte (combined-log patterns such as " +
			"`^(?P<client>\\S+) \\S+ \\[(?P<time>[^\\]]+)\\] \"(?P<request>[^\"]*)\"`) runs on a one-pass matcher, " +
			"with the same result as Go's regexp, several times faster.",
		Examples: []component.Example{
			{Title: "a request line", YAML: "- name: requests\n  type: native\n  use: parse_regex\n  config:\n    pattern: '^(?P<method>[A-Z]+) (?P<path>\\S+) (?P<status>\\d{3})$'\n    types: {status: int}"},
			{Title: "a field of a JSON record", YAML: "- {name: user, type: native, use: parse_regex, config: {field: msg, pattern: 'user=(?P<user>\\w+)'}}"},
		}})
}

type parseRegexConfig struct {
	Pattern     string `yaml:"pattern" required:"true" example:"'^(?P<level>[A-Z]+) (?P<msg>.*)$'" doc:"The regular expression (Go RE2 syntax); each named group becomes a field."`
	KeepUnnamed bool   `yaml:"keep_unnamed" default:"false" doc:"Also output unnamed groups, keyed by their number (\"1\", \"2\", ...)."`
	parseIO     `yaml:",inline"`
	parseTypes  `yaml:",inline"`
}

type regexParser struct {
	re      *regexp.Regexp
	atStart *linearMatcher // the pattern anchored at the start, when it is linear
	emit    *linearEmitter // atStart writing the fields as it matches, when it can
	whole   bool           // the pattern is anchored: atStart decides alone
	names   []string       // per group; "" leaves the group out
	fields  []regexField   // the groups that are fields, in order
}

// regexField is a group that becomes a field.
type regexField struct {
	group int       // the group's number
	kind  valueType // its conversion of types:
	name  string
	key   []byte // ,"name": in JSON, with the opening quote of a string value, then padding (appendShort)
	klen  int    // key's length without the padding
}

func newParseRegex(cfg engine.Config) (engine.Transformer, error) {
	var c parseRegexConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.parseIO.check(cfg); err != nil {
		return nil, err
	}
	re, err := compile(cfg, "pattern", c.Pattern)
	if err != nil {
		return nil, err
	}
	names := slices.Clone(re.SubexpNames())
	have := map[string]bool{}
	n := 0
	for i, name := range names {
		if i == 0 {
			names[i] = ""
			continue
		}
		if name == "" && c.KeepUnnamed {
			name = strconv.Itoa(i)
			names[i] = name
		}
		if name != "" {
			n++
			if have[name] {
				return nil, cfg.Errorf("pattern", "group name %q is used twice", name)
			}
			have[name] = true
		}
	}
	if n == 0 {
		return nil, cfg.Errorf("pattern", "pattern %q has no named group (write (?P<name>...)%s)", c.Pattern,
			map[bool]string{true: "", false: " or set keep_unnamed: true"}[c.KeepUnnamed])
	}
	types, err := compileTypes(cfg, c.Types, func(k string) bool { return have[k] })
	if err != nil {
		return nil, err
	}
	p := newRegexParser(re, c.Pattern, names, types)
	return newParseStage(c.parseIO, p), nil
}

// newRegexParser returns the parser of re (source pattern), whose groups
// fill the fields names (by group; "" leaves a group out) converted by
// types.
func newRegexParser(re *regexp.Regexp, pattern string, names []string, types *typeSet) *regexParser {
	p := &regexParser{re: re, names: names}
	p.atStart, p.whole = linearAtStart(pattern)
	for i, name := range names {
		if name == "" {
			continue
		}
		f := regexField{group: i, name: name, key: append(appendJSONString([]byte{','}, name), ':')}
		f.kind, _ = types.lookup([]byte(name))
		if f.kind == typeString {
			f.key = append(f.key, '"')
		}
		f.klen = len(f.key)
		f.key = padded(f.key)
		p.fields = append(p.fields, f)
	}
	p.emit = newLinearEmitter(p.atStart, p.fields)
	return p
}

func (p *regexParser) parseLine(dst, text []byte) ([]byte, error) {
	if p.emit != nil {
		if out, ok := p.emit.emit(dst, text); ok {
			return out, nil
		}
	}
	return p.parseMatched(dst, text)
}

// parseMatched is parseLine without the emitter: the match, then the
// fields.
func (p *regexParser) parseMatched(dst, text []byte) ([]byte, error) {
	// A match at the start is the leftmost one; most patterns are
	// anchored, so the linear matcher decides alone.
	var m []int
	var clean []bool // by group: the text needs no escaping
	if p.atStart != nil {
		if m = p.atStart.match(text); m != nil {
			clean = p.atStart.clean
		}
	}
	if m == nil && !p.whole {
		m = p.re.FindSubmatchIndex(text)
	}
	if m == nil {
		return dst, fmt.Errorf("pattern %s: %w", p.re, ErrNoMatch)
	}
	// The group names are unique and known: the object is written
	// straight into dst, each key's JSON made once (keys).
	start := len(dst)
	dst = append(dst, '{')
	sep := 1 // no comma before the first field
	for k := range p.fields {
		f := &p.fields[k]
		a, b := m[2*f.group], m[2*f.group+1]
		if a < 0 {
			continue
		}
		dst = appendShort(dst, f.key, sep, f.klen-sep)
		sep = 0
		switch {
		case f.kind != typeString:
			var err error
			if dst, err = appendTyped(dst, f.name, text[a:b], f.kind); err != nil {
				return dst[:start], err
			}
		case clean != nil && clean[f.group]:
			dst = appendShort(dst, text, a, b-a)
			dst = append(dst, '"')
		default:
			dst = appendJSONBody(dst, text[a:b])
			dst = append(dst, '"')
		}
	}
	return append(dst, '}'), nil
}
