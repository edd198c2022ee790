package native

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "parse_syslog", New: newParseSyslog, Config: parseSyslogConfig{},
		Summary: "parse an RFC 5424 or RFC 3164 (BSD) syslog line into a JSON object",
		Doc: "The output has `priority` (a number), `facility` and `severity` (names: kern, user, mail, daemon, auth, syslog, " +
			"lpr, news, uucp, cron, authpriv, ftp, ntp, security, console, solaris-cron, local0-local7; emerg, alert, crit, err, " +
			"warning, notice, info, debug), then, as the line has them, `version`, `timestamp`, `hostname`, `appname`, " +
			"`procid`, `msgid`, `structured_data` (an object of objects: SD-ID to its parameters; a parameter given more " +
			"than once becomes an array of its values) and `message`. Fields " +
			"written as `-` (RFC 5424's nil value) are left out. A timestamp is kept as written: RFC 3164's has no year and no " +
			"zone, so turn it into a full time with parse_time if you need one. A line without a valid `<PRI>` (0 to 191), or " +
			"that does not follow the format, fails the record (`on_error`).",
		Examples: []component.Example{
			{Title: "syslog lines of either format to NDJSON", YAML: "- {name: syslog, type: native, use: parse_syslog}"},
			{Title: "RFC 5424 only", YAML: "- {name: syslog, type: native, use: parse_syslog, config: {format: rfc5424}}"},
		}})
}

type parseSyslogConfig struct {
	Format  string `yaml:"format" default:"auto" enum:"auto,rfc5424,rfc3164" doc:"The format of the lines; auto tells them apart by the version number after the priority."`
	parseIO `yaml:",inline"`
}

var (
	syslogFacilities = [...]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
		"authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
		"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}
	syslogSeverities = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}
)

// errSyslog is wrapped by every syslog parse error.
var errSyslog = errors.New("not a syslog line")

type syslogParser struct {
	fieldsParser
	format string
	sd     []byte    // the structured data object
	sdv    []byte    // names and unescaped values
	params []sdParam // of one element
	ids    []int     // the SD-IDs seen, ranges of sdv
}

func newParseSyslog(cfg engine.Config) (engine.Transformer, error) {
	var c parseSyslogConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.parseIO.check(cfg); err != nil {
		return nil, err
	}
	return newParseStage(c.parseIO, &syslogParser{format: c.Format}), nil
}

func syslogErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errSyslog, fmt.Sprintf(format, args...))
}

func (p *syslogParser) parseLine(dst, text []byte) ([]byte, error) {
	p.p.reset()
	if len(text) == 0 || text[0] != '<' {
		return dst, syslogErr("no <priority> at the start")
	}
	end := bytes.IndexByte(text[:min(len(text), 5)], '>')
	if end < 2 {
		return dst, syslogErr("bad priority: want <0> to <191>")
	}
	pri := 0
	for _, c := range text[1:end] {
		if c < '0' || c > '9' {
			return dst, syslogErr("bad priority %q: want <0> to <191>", text[:end+1])
		}
		pri = pri*10 + int(c-'0')
	}
	if pri > 191 {
		return dst, syslogErr("bad priority %q: want <0> to <191>", text[:end+1])
	}
	p.p.addRaw("priority", strconv.AppendInt(p.sd[:0], int64(pri), 10))
	p.p.addRaw("facility", appendJSONString(p.sd[:0], syslogFacilities[pri>>3]))
	p.p.addRaw("severity", appendJSONString(p.sd[:0], syslogSeverities[pri&7]))
	rest := text[end+1:]
	is5424 := len(rest) > 1 && rest[0] >= '1' && rest[0] <= '9' && (rest[1] == ' ' || len(rest) > 2 && rest[1] >= '0' && rest[1] <= '9' && rest[2] == ' ')
	var err error
	switch {
	case p.format == "rfc5424" || p.format == "auto" && is5424:
		err = p.rfc5424(rest)
	default:
		err = p.rfc3164(rest)
	}
	if err != nil {
		return dst, err
	}
	return p.finish(dst)
}

// token cuts the text up to the next space.
func token(b []byte) (tok, rest []byte, ok bool) {
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return b, nil, false
	}
	return b[:i], b[i+1:], true
}

func (p *syslogParser) rfc5424(b []byte) error {
	ver, b, ok := token(b)
	if !ok || len(ver) == 0 || len(ver) > 2 || ver[0] == '0' {
		return syslogErr("rfc5424: bad version")
	}
	for _, c := range ver {
		if c < '0' || c > '9' {
			return syslogErr("rfc5424: bad version %q", ver)
		}
	}
	p.p.addRaw("version", ver)
	names := [...]string{"timestamp", "hostname", "appname", "procid", "msgid"}
	limits := [...]int{64, 255, 48, 128, 32}
	for i, name := range names {
		var tok []byte
		tok, b, ok = token(b)
		if !ok {
			return syslogErr("rfc5424: the line ends before %s", name)
		}
		if len(tok) == 0 {
			return syslogErr("rfc5424: empty %s (two spaces)", name)
		}
		if len(tok) > limits[i] {
			return syslogErr("rfc5424: %s longer than %d bytes", name, limits[i])
		}
		if string(tok) == "-" {
			continue
		}
		if i == 0 {
			if _, err := time.Parse(time.RFC3339Nano, string(tok)); err != nil {
				return syslogErr("rfc5424: bad timestamp %q", tok)
			}
		}
		p.p.addString(name, tok)
	}
	// Structured data: - or [id k="v" ...]...
	if len(b) == 0 {
		return syslogErr("rfc5424: the line ends before structured data")
	}
	if b[0] == '-' {
		b = b[1:]
	} else {
		var err error
		if b, err = p.structured(b); err != nil {
			return err
		}
	}
	switch {
	case len(b) == 0:
		return nil
	case b[0] != ' ':
		return syslogErr("rfc5424: no space after structured data")
	}
	msg := bytes.TrimPrefix(b[1:], []byte("\xef\xbb\xbf"))
	p.p.addString("message", msg)
	return nil
}

// sdParam is one parameter of a structured data element: name and value
// are ranges of syslogParser.sdv.
type sdParam struct{ n0, n1, v0, v1 int }

// structured parses RFC 5424 structured data into a raw JSON field and
// returns the rest of the line. A parameter given more than once (RFC 5424
// allows it) becomes an array of its values; an SD-ID given twice fails.
func (p *syslogParser) structured(b []byte) ([]byte, error) {
	sd := append(p.sd[:0], '{')
	p.sdv = p.sdv[:0]
	ids := p.ids[:0]
	for n := 0; len(b) > 0 && b[0] == '['; n++ {
		b = b[1:]
		i := 0
		for i < len(b) && b[i] != ' ' && b[i] != ']' && b[i] != '=' && b[i] != '"' {
			i++
		}
		if i == len(b) {
			return nil, syslogErr("rfc5424: unterminated structured data element")
		}
		if i == 0 {
			return nil, syslogErr("rfc5424: bad structured data id")
		}
		id0 := len(p.sdv)
		p.sdv = append(p.sdv, b[:i]...)
		for k := 0; k < len(ids); k += 2 {
			if bytes.Equal(p.sdv[ids[k]:ids[k+1]], b[:i]) {
				return nil, syslogErr("rfc5424: structured data id %q given twice", b[:i])
			}
		}
		ids = append(ids, id0, len(p.sdv))
		if n > 0 {
			sd = append(sd, ',')
		}
		sd = appendJSONString(sd, b[:i])
		sd = append(sd, ':')
		b = b[i:]
		params := p.params[:0]
		for len(b) > 0 && b[0] == ' ' {
			b = b[1:]
			eq := bytes.IndexByte(b, '=')
			if eq <= 0 || eq+1 >= len(b) || b[eq+1] != '"' {
				return nil, syslogErr("rfc5424: bad structured data parameter")
			}
			var prm sdParam
			prm.n0 = len(p.sdv)
			p.sdv = append(p.sdv, b[:eq]...)
			prm.n1, prm.v0 = len(p.sdv), len(p.sdv)
			b = b[eq+2:]
			closed := false
			for j := 0; j < len(b); j++ {
				c := b[j]
				if c == '\\' && j+1 < len(b) && (b[j+1] == '"' || b[j+1] == '\\' || b[j+1] == ']') {
					p.sdv = append(p.sdv, b[j+1])
					j++
					continue
				}
				if c == '"' {
					b = b[j+1:]
					closed = true
					break
				}
				p.sdv = append(p.sdv, c)
			}
			if !closed {
				return nil, syslogErr("rfc5424: unterminated structured data value")
			}
			prm.v1 = len(p.sdv)
			params = append(params, prm)
		}
		if len(b) == 0 || b[0] != ']' {
			return nil, syslogErr("rfc5424: unterminated structured data element")
		}
		b = b[1:]
		sd = p.appendParams(sd, params)
		p.params = params
	}
	p.ids = ids
	sd = append(sd, '}')
	p.sd = sd
	p.p.addRaw("structured_data", sd)
	return b, nil
}

// appendParams writes an element's parameters as a JSON object, the
// values of a repeated name as an array at its first position.
func (p *syslogParser) appendParams(sd []byte, params []sdParam) []byte {
	name := func(q sdParam) []byte { return p.sdv[q.n0:q.n1] }
	sd = append(sd, '{')
	for i, q := range params {
		if q.n0 < 0 { // written with an earlier one of its name
			continue
		}
		if i > 0 && sd[len(sd)-1] != '{' {
			sd = append(sd, ',')
		}
		sd = appendJSONString(sd, name(q))
		sd = append(sd, ':')
		repeated := false
		for _, r := range params[i+1:] {
			if r.n0 >= 0 && bytes.Equal(name(r), name(q)) {
				repeated = true
				break
			}
		}
		if !repeated {
			sd = appendJSONString(sd, p.sdv[q.v0:q.v1])
			continue
		}
		sd = append(sd, '[')
		sd = appendJSONString(sd, p.sdv[q.v0:q.v1])
		for j := i + 1; j < len(params); j++ {
			if r := params[j]; r.n0 >= 0 && bytes.Equal(name(r), name(q)) {
				sd = append(sd, ',')
				sd = appendJSONString(sd, p.sdv[r.v0:r.v1])
				params[j].n0 = -1
			}
		}
		sd = append(sd, ']')
	}
	return append(sd, '}')
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// bsdTimestamp reports whether b starts with "Mmm dd hh:mm:ss".
func bsdTimestamp(b []byte) bool {
	if len(b) < 15 {
		return false
	}
	ok := false
	for _, m := range months {
		if string(b[:3]) == m {
			ok = true
		}
	}
	d := func(c byte) bool { return c >= '0' && c <= '9' }
	return ok && b[3] == ' ' && (b[4] == ' ' || d(b[4])) && d(b[5]) && b[6] == ' ' &&
		d(b[7]) && d(b[8]) && b[9] == ':' && d(b[10]) && d(b[11]) && b[12] == ':' && d(b[13]) && d(b[14])
}

func (p *syslogParser) rfc3164(b []byte) error {
	switch {
	case bsdTimestamp(b):
		p.p.addString("timestamp", b[:15])
		b = b[15:]
	default:
		// rsyslog's high-precision format: an RFC 3339 timestamp.
		tok, _, _ := token(b)
		if _, err := time.Parse(time.RFC3339Nano, string(tok)); err != nil {
			return syslogErr("rfc3164: no timestamp (Mmm dd hh:mm:ss) after the priority")
		}
		p.p.addString("timestamp", tok)
		b = b[len(tok):]
	}
	if len(b) == 0 {
		return nil
	}
	if b[0] != ' ' {
		return syslogErr("rfc3164: no space after the timestamp")
	}
	b = b[1:]
	// The hostname, unless the next word is the tag.
	if tok, rest, ok := token(b); ok && !isSyslogTag(tok) {
		p.p.addString("hostname", tok)
		b = rest
	}
	// The tag: APP[PID]: or APP:
	i := 0
	for i < len(b) && b[i] != ' ' && b[i] != '[' && b[i] != ':' {
		i++
	}
	switch {
	case i > 0 && i < len(b) && b[i] == '[':
		j := bytes.IndexByte(b[i:], ']')
		if j > 0 && i+j+1 < len(b) && b[i+j+1] == ':' {
			p.p.addString("appname", b[:i])
			p.p.addString("procid", b[i+1:i+j])
			b = b[i+j+2:]
		}
	case i > 0 && i < len(b) && b[i] == ':':
		p.p.addString("appname", b[:i])
		b = b[i+1:]
	}
	b = bytes.TrimPrefix(b, []byte(" "))
	p.p.addString("message", b)
	return nil
}

// isSyslogTag reports whether word looks like a tag (APP: or APP[PID]:)
// rather than a hostname.
func isSyslogTag(word []byte) bool {
	return len(word) > 1 && word[len(word)-1] == ':' || bytes.IndexByte(word, '[') > 0 && bytes.HasSuffix(word, []byte("]:"))
}
