package native

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/elastic/go-grok/patterns"
	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
)

// The grok pattern set is Elastic's go-grok (github.com/elastic/go-grok,
// package patterns, Apache License 2.0, Copyright Elasticsearch B.V.): the
// Logstash patterns rewritten for Go's RE2 (no look-behind, no atomic
// groups) with ECS field names. Only its pattern maps are used; the
// compiler below is pipe's own (typed fields, nested field names, ordered
// output without maps per record).

func init() {
	engine.RegisterNative(engine.Native{Name: "grok", New: newGrok, Config: grokConfig{},
		Summary: "parse a line with grok patterns (%{SYNTAX:field:type}) and the common pattern set into a JSON object",
		Doc: "A pattern is a Go regular expression in which `%{NAME}` stands for a named pattern, `%{NAME:field}` captures it " +
			"into a field and `%{NAME:field:type}` also converts it (int, long, float, double, bool, boolean or string). " +
			"Field names may be dotted (`http.response.status_code`, or Logstash's `[http][response][status_code]`): they " +
			"make nested objects. `patterns` are tried in order and the first that matches wins; they are not anchored " +
			"(write `^...$`). A line that none matches fails the record (`on_error`).\n\n" +
			"The pattern set is that of Elastic's go-grok v0.3.1 (Apache License 2.0): the Logstash patterns " +
			"ported to RE2, with ECS field names (SYSLOGPROG and SYSLOGFACILITY capture process.name, process.pid, " +
			"log.syslog.facility.code and log.syslog.priority, as Logstash's do): WORD, NOTSPACE, DATA, GREEDYDATA, INT, NUMBER, BASE10NUM, POSINT, " +
			"QUOTEDSTRING/QS, UUID, IP, IPV4, IPV6, HOSTNAME, IPORHOST, HOSTPORT, USER, EMAILADDRESS, MAC, PATH, URI, " +
			"URIPATHPARAM, TIMESTAMP_ISO8601, HTTPDATE, SYSLOGTIMESTAMP, DATESTAMP, LOGLEVEL, COMMONAPACHELOG, " +
			"COMBINEDAPACHELOG, HTTPD_ERRORLOG, SYSLOGLINE, SYSLOG5424LINE, CRONLOG, JAVASTACKTRACEPART, " +
			"CATALINALOG, TOMCATLOG, HAPROXYHTTP, and the formats of AWS, Bind9, Bro, Exim, firewalls, Junos, Maven, " +
			"MCollective, MongoDB, PostgreSQL, Rails, Redis, Ruby and Squid (the library's patterns package lists them " +
			"all). `definitions:` adds your own or replaces theirs.",
		Examples: []component.Example{
			{Title: "Apache/nginx combined access logs", YAML: "- {name: access, type: native, use: grok, config: {patterns: ['%{COMBINEDAPACHELOG}']}}"},
			{Title: "your own pattern", YAML: "- name: app\n  type: native\n  use: grok\n  config:\n    patterns: ['^%{TIMESTAMP_ISO8601:time} %{LOGLEVEL:level} \\[%{SVC:service}\\] %{GREEDYDATA:msg}$']\n    definitions: {SVC: '[a-z-]+'}"},
		}})
}

type grokConfig struct {
	Patterns          []string          `yaml:"patterns" required:"true" example:"['%{IPORHOST:client} %{WORD:method} %{URIPATHPARAM:path} %{INT:status:int}']" doc:"Grok patterns, tried in order; the first that matches wins."`
	Definitions       map[string]string `yaml:"definitions" example:"{SVC: '[a-z-]+'}" doc:"Named patterns of your own, usable as %{NAME}; they replace set patterns of the same name."`
	KeepEmptyCaptures bool              `yaml:"keep_empty_captures" default:"false" doc:"Output fields that captured an empty text (as \"\", or null when converted) instead of leaving them out."`
	parseIO           `yaml:",inline"`
	parseTypes        `yaml:",inline"`
}

// grokAmendments restore the captures that go-grok dropped from two syslog
// patterns (Go's regexp has named groups; Logstash's ECS patterns capture
// these).
var grokAmendments = map[string]string{
	"SYSLOGPROG":     `%{PROG:process.name}(?:\[%{POSINT:process.pid:int}\])?`,
	"SYSLOGFACILITY": `<%{NONNEGINT:log.syslog.facility.code:int}.%{NONNEGINT:log.syslog.priority:int}>`,
}

var (
	grokSetOnce sync.Once
	grokSet     map[string]string
)

// grokPatterns returns the pattern set, merged once.
func grokPatterns() map[string]string {
	grokSetOnce.Do(func() {
		grokSet = map[string]string{}
		for _, m := range []map[string]string{patterns.Default, patterns.AWS, patterns.Bind9, patterns.Bro, patterns.Exim,
			patterns.HAProxy, patterns.Httpd, patterns.Firewalls, patterns.Java, patterns.Junos, patterns.Maven,
			patterns.MCollective, patterns.MongoDB, patterns.PostgreSQL, patterns.Rails, patterns.Redis, patterns.Ruby,
			patterns.Squid, patterns.Syslog} {
			for k, v := range m {
				grokSet[k] = v
			}
		}
		for k, v := range grokAmendments {
			grokSet[k] = v
		}
	})
	return grokSet
}

// grokGroup is what one capture group of a compiled pattern fills.
type grokGroup struct {
	field string
	typ   string // a type name, "" for text
}

// grokCompiler expands grok patterns into one RE2 expression.
type grokCompiler struct {
	defs   map[string]string
	set    map[string]string
	groups []grokGroup // by the number in the group name _gN
	memo   map[string]string
}

var grokRef = regexp.MustCompile(`%\{([^}]*)\}`)

func (c *grokCompiler) lookup(name string) (string, bool) {
	if p, ok := c.defs[name]; ok {
		return p, true
	}
	p, ok := c.set[name]
	return p, ok
}

// expand returns pattern with its %{...} references expanded; stack holds
// the names being expanded (a cycle is an error).
func (c *grokCompiler) expand(pattern string, stack []string) (string, error) {
	var b strings.Builder
	last := 0
	for _, m := range grokRef.FindAllStringSubmatchIndex(pattern, -1) {
		b.WriteString(pattern[last:m[0]])
		last = m[1]
		parts := strings.Split(pattern[m[2]:m[3]], ":")
		name := parts[0]
		if len(parts) > 3 || name == "" {
			return "", fmt.Errorf("bad reference %s: want %%{NAME}, %%{NAME:field} or %%{NAME:field:type}", pattern[m[0]:m[1]])
		}
		def, ok := c.lookup(name)
		if !ok {
			return "", fmt.Errorf("unknown pattern %%{%s}", name)
		}
		for _, s := range stack {
			if s == name {
				return "", fmt.Errorf("pattern %%{%s} refers to itself (%s)", name, strings.Join(append(stack, name), " -> "))
			}
		}
		field, typ := "", ""
		if len(parts) > 1 {
			field = grokFieldName(parts[1])
			if field == "" {
				return "", fmt.Errorf("bad field name in %s", pattern[m[0]:m[1]])
			}
		}
		if len(parts) > 2 {
			typ = parts[2]
			if _, ok := typeNames[typ]; !ok {
				return "", fmt.Errorf("%s: type must be int, long, float, double, bool, boolean or string", pattern[m[0]:m[1]])
			}
		}
		inner, memo := c.memo[name]
		if !memo {
			n := len(c.groups)
			var err error
			if inner, err = c.expand(def, append(stack, name)); err != nil {
				return "", err
			}
			if len(c.groups) == n { // no captures inside: reusable as it is
				c.memo[name] = inner
			}
		}
		if field == "" {
			b.WriteString("(?:" + inner + ")")
			continue
		}
		b.WriteString("(?P<_g" + strconv.Itoa(len(c.groups)) + ">" + inner + ")")
		c.groups = append(c.groups, grokGroup{field: field, typ: typ})
	}
	b.WriteString(pattern[last:])
	return b.String(), nil
}

// grokFieldName turns [a][b] into a.b.
func grokFieldName(s string) string {
	if !strings.HasPrefix(s, "[") {
		return s
	}
	s = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
	return strings.ReplaceAll(s, "][", ".")
}

// grokPattern is one compiled pattern.
type grokPattern struct {
	re      *regexp.Regexp
	atStart *regexp.Regexp // re anchored at the start, when re is not
	linear  *linearMatcher // re anchored at the start, when it is linear
	whole   bool           // re is anchored: linear decides alone
	groups  []grokGroup    // by subexpression index; field "" for none
	types   *typeSet
	dedupe  bool
}

type grokParser struct {
	fieldsParser
	pats      []grokPattern
	keepEmpty bool
}

func newGrok(cfg engine.Config) (engine.Transformer, error) {
	var c grokConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.parseIO.check(cfg); err != nil {
		return nil, err
	}
	if len(c.Patterns) == 0 {
		return nil, cfg.Errorf("patterns", "patterns must not be empty")
	}
	for name := range c.Definitions {
		if name == "" || strings.ContainsAny(name, ":{}") {
			return nil, cfg.Errorf("definitions", "bad pattern name %q", name)
		}
	}
	p := &grokParser{keepEmpty: c.KeepEmptyCaptures}
	p.nest = true
	allFields := map[string]bool{}
	for _, src := range c.Patterns {
		gp, err := compileGrok(src, c.Definitions)
		if err != nil {
			return nil, cfg.Errorf("patterns", "grok pattern %q: %v", src, err)
		}
		for _, g := range gp.groups {
			if g.field != "" {
				allFields[g.field] = true
			}
		}
		p.pats = append(p.pats, gp)
	}
	// A field cannot be both a value and an object.
	names := make([]string, 0, len(allFields))
	for f := range allFields {
		names = append(names, f)
	}
	sort.Strings(names)
	for i := 1; i < len(names); i++ {
		if strings.HasPrefix(names[i], names[i-1]+".") {
			return nil, cfg.Errorf("patterns", "field %q is a value in one capture and an object (%q) in another", names[i-1], names[i])
		}
	}
	userTypes, err := compileTypes(cfg, c.Types, func(k string) bool { return allFields[k] })
	if err != nil {
		return nil, err
	}
	for i := range p.pats {
		gp := &p.pats[i]
		for _, g := range gp.groups {
			if g.field == "" {
				continue
			}
			t, ok := userTypes.lookup([]byte(g.field))
			if !ok && g.typ != "" {
				t, ok = typeNames[g.typ], true
			}
			if ok {
				if gp.types == nil {
					gp.types = &typeSet{}
				}
				gp.types.set(g.field, t)
			}
		}
	}
	return newParseStage(c.parseIO, p), nil
}

// compileGrok compiles one grok pattern.
func compileGrok(src string, defs map[string]string) (grokPattern, error) {
	c := &grokCompiler{defs: defs, set: grokPatterns(), memo: map[string]string{}}
	expr, err := c.expand(src, nil)
	if err != nil {
		return grokPattern{}, err
	}
	expr = nonCapturing(expr)
	re, err := regexp.Compile(expr)
	if err != nil {
		return grokPattern{}, fmt.Errorf("%s", unwrapRegexp(err))
	}
	gp := grokPattern{re: re, groups: make([]grokGroup, re.NumSubexp()+1)}
	gp.linear, gp.whole = linearAtStart(expr)
	if gp.linear == nil && !strings.HasPrefix(expr, "^") {
		// Go's regexp runs a search for a match anywhere at many times the
		// cost of a match at the start; the leftmost match is the one at
		// the start when there is one, so try that first.
		gp.atStart = regexp.MustCompile("^(?:" + expr + ")")
	}
	seen := map[string]bool{}
	for i, name := range re.SubexpNames() {
		switch {
		case name == "":
			continue
		case strings.HasPrefix(name, "_g"):
			if n, err := strconv.Atoi(name[2:]); err == nil && n < len(c.groups) {
				gp.groups[i] = c.groups[n]
			}
		default: // a (?P<name>...) written in the pattern
			gp.groups[i] = grokGroup{field: name}
		}
		if f := gp.groups[i].field; f != "" {
			gp.dedupe = gp.dedupe || seen[f]
			seen[f] = true
		}
	}
	if len(seen) == 0 {
		return grokPattern{}, fmt.Errorf("no field is captured (write %%{NAME:field})")
	}
	return gp, nil
}

func (p *grokParser) parseLine(dst, text []byte) ([]byte, error) {
	for i := range p.pats {
		gp := &p.pats[i]
		var m []int
		switch {
		case gp.linear != nil:
			m = gp.linear.match(text)
		case gp.atStart != nil:
			m = gp.atStart.FindSubmatchIndex(text)
		}
		if m == nil && gp.whole {
			continue
		}
		if m == nil {
			if m = gp.re.FindSubmatchIndex(text); m == nil {
				continue
			}
		}
		p.p.reset()
		for g, grp := range gp.groups {
			if grp.field == "" || m[2*g] < 0 || m[2*g] == m[2*g+1] && !p.keepEmpty {
				continue
			}
			p.p.addString(grp.field, text[m[2*g]:m[2*g+1]])
		}
		p.types, p.dedupe = gp.types, gp.dedupe
		return p.finish(dst)
	}
	if len(p.pats) == 1 {
		return dst, fmt.Errorf("grok pattern: %w", ErrNoMatch)
	}
	return dst, fmt.Errorf("none of %d grok patterns: %w", len(p.pats), ErrNoMatch)
}

// nonCapturing turns the plain groups "(...)" of a regular expression into
// "(?:...)": grok fills fields from named groups only, and every capture
// group costs Go's regexp engine a copy per thread and step (the set's
// IPV6 pattern alone has dozens).
func nonCapturing(expr string) string {
	var b strings.Builder
	b.Grow(len(expr) + len(expr)/8)
	inClass := false
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case c == '\\' && i+1 < len(expr):
			b.WriteByte(c)
			b.WriteByte(expr[i+1])
			i++
			continue
		case inClass:
			if c == ']' {
				inClass = false
			}
		case c == '[':
			inClass = true
			// A ] right after [ or [^ is a literal.
			if i+1 < len(expr) && expr[i+1] == '^' {
				b.WriteString("[^")
				i++
			} else {
				b.WriteByte('[')
			}
			if i+1 < len(expr) && expr[i+1] == ']' {
				b.WriteByte(']')
				i++
			}
			continue
		case c == '(' && (i+1 >= len(expr) || expr[i+1] != '?'):
			b.WriteString("(?:")
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
