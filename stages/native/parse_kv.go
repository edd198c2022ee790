package native

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"unicode/utf8"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "parse_logfmt", New: newParseLogfmt, Config: parseLogfmtConfig{},
		Summary: "parse a logfmt line (key=value key2=\"quoted value\") into a JSON object",
		Doc: "Pairs are separated by white space; a value may be double-quoted, with the escapes \\\" \\\\ \\n \\r \\t \\uXXXX. " +
			"A key without `=` is true, `key=` is \"\". Keys keep their order; a repeated key keeps its first position and its " +
			"last value. A quote that is not closed, text right after a closing quote, `=` without a key or a quote in a key " +
			"fails the record (`on_error`).",
		Examples: []component.Example{
			{Title: "logfmt lines to NDJSON", YAML: "- {name: logfmt, type: native, use: parse_logfmt, config: {types: {status: int, duration_ms: float}}}"},
		}})
	engine.RegisterNative(engine.Native{Name: "parse_kv", New: newParseKV, Config: parseKVConfig{},
		Summary: "parse key/value pairs with configurable separators and quotes into a JSON object",
		Doc: "`field_split` separates the pairs (\" \" also takes runs of white space), `value_split` a key from its value " +
			"(at its first occurrence). A value (or key) that starts with one of `quotes` runs to the same quote (a backslash " +
			"escapes it). Keys keep their order; a repeated key keeps its first position and its last value.",
		Examples: []component.Example{
			{Title: "a query string", YAML: "- {name: query, type: native, use: parse_kv, config: {field_split: '&', value_split: '='}}"},
			{Title: "semicolon-separated settings", YAML: "- {name: settings, type: native, use: parse_kv, config: {field_split: ';', value_split: ':'}}"},
		}})
}

type parseLogfmtConfig struct {
	parseIO    `yaml:",inline"`
	parseTypes `yaml:",inline"`
}

type parseKVConfig struct {
	FieldSplit string `yaml:"field_split" default:"' '" doc:"The separator between pairs; a space also takes tabs and runs of white space."`
	ValueSplit string `yaml:"value_split" default:"'='" doc:"The separator between a key and its value."`
	Quotes     string `yaml:"quotes" default:"'\"'" doc:"Characters that quote a key or value (each closes itself); empty for none."`
	Standalone string `yaml:"standalone" default:"true" enum:"true,null,error,skip" doc:"A key without value_split: true, null, a record error, or left out."`
	Trim       bool   `yaml:"trim" default:"true" doc:"Trim white space around unquoted keys and values."`
	parseIO    `yaml:",inline"`
	parseTypes `yaml:",inline"`
}

// kvParser parses key/value pairs; logfmt is one setting of it.
type kvParser struct {
	fieldsParser
	pairSep, valSep []byte
	space           bool // pairs are separated by white space
	quotes          string
	standalone      string
	trim            bool
	quote           [256]bool   // the quote characters
	logfmt          bool        // escapes and logfmt's strictness
	keyCache        []logfmtKey // logfmtFast: the keys of the line so far, then of the line before, by position
}

// maxLogfmtKeyCache is how many keys of a line keyCache keeps: logfmtFast
// leaves longer lines to the general path.
const maxLogfmtKeyCache = 64

// logfmtKey is a key as logfmtFast last saw it at one position.
type logfmtKey struct {
	raw, json []byte // the key, and its JSON after a comma, with the colon, then padding (appendShort)
	jlen      int    // json's length without the padding
	kind      valueType
	bit       uint64 // the key's bit in logfmtFast's repeated-key filter
	// The key and its '=' as two little-endian words and the mask of
	// their bytes (eqLen of them; 0 when longer than 16).
	eq, eqMask [2]uint64
	eqLen      int
}

// setWords sets kc's eq, eqMask and eqLen from its raw key.
func (kc *logfmtKey) setWords() {
	kc.eq, kc.eqMask, kc.eqLen = [2]uint64{}, [2]uint64{}, 0
	if len(kc.raw)+1 > 16 {
		return
	}
	for i, c := range append(kc.raw[:len(kc.raw):len(kc.raw)], '=') {
		kc.eq[i/8] |= uint64(c) << (8 * (i % 8))
		kc.eqMask[i/8] |= 0xff << (8 * (i % 8))
	}
	kc.eqLen = len(kc.raw) + 1
}

func newParseLogfmt(cfg engine.Config) (engine.Transformer, error) {
	var c parseLogfmtConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.parseIO.check(cfg); err != nil {
		return nil, err
	}
	types, err := compileTypes(cfg, c.Types, nil)
	if err != nil {
		return nil, err
	}
	p := &kvParser{pairSep: []byte(" "), valSep: []byte("="), space: true, quotes: `"`, standalone: "true", logfmt: true}
	p.types, p.dedupe = types, true
	p.quote['"'] = true
	return newParseStage(c.parseIO, p), nil
}

func newParseKV(cfg engine.Config) (engine.Transformer, error) {
	var c parseKVConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.parseIO.check(cfg); err != nil {
		return nil, err
	}
	if c.FieldSplit == "" {
		return nil, cfg.Errorf("field_split", "field_split must not be empty")
	}
	if c.ValueSplit == "" {
		return nil, cfg.Errorf("value_split", "value_split must not be empty")
	}
	if c.FieldSplit == c.ValueSplit {
		return nil, cfg.Errorf("value_split", "value_split must differ from field_split")
	}
	for _, q := range c.Quotes {
		if q >= utf8.RuneSelf {
			return nil, cfg.Errorf("quotes", "quotes must be ASCII characters")
		}
	}
	types, err := compileTypes(cfg, c.Types, nil)
	if err != nil {
		return nil, err
	}
	p := &kvParser{pairSep: []byte(c.FieldSplit), valSep: []byte(c.ValueSplit), space: c.FieldSplit == " ",
		quotes: c.Quotes, standalone: c.Standalone, trim: c.Trim}
	for i := range len(c.Quotes) {
		p.quote[c.Quotes[i]] = true
	}
	p.types, p.dedupe = types, true
	return newParseStage(c.parseIO, p), nil
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'
}

var errUnterminated = errors.New("unterminated quoted value")

func (p *kvParser) parseLine(dst, text []byte) ([]byte, error) {
	if p.logfmt {
		if out, ok := p.logfmtFast(dst, text); ok {
			return out, nil
		}
	}
	return p.parsePairs(dst, text)
}

// parsePairs is parseLine's general path.
func (p *kvParser) parsePairs(dst, text []byte) ([]byte, error) {
	p.p.reset()
	i := 0
	for i < len(text) {
		// Skip separators (and, with space, runs of white space).
		if p.space {
			for i < len(text) && isSpace(text[i]) {
				i++
			}
		} else if bytes.HasPrefix(text[i:], p.pairSep) {
			i += len(p.pairSep)
			continue
		}
		if i >= len(text) {
			break
		}
		start := i
		// The key.
		var key []byte
		var err error
		if p.isQuote(text[i]) {
			if p.logfmt {
				return dst, fmt.Errorf("byte %d: a logfmt key cannot be quoted", i+1)
			}
			kstart := len(p.p.buf)
			if i, err = p.unquote(text, i); err != nil {
				return dst, err
			}
			key = p.p.buf[kstart:]
			p.p.buf = p.p.buf[:kstart] // key() copies it back
			key = bytes.Clone(key)
		} else {
			j := p.keyEnd(text, i)
			if p.logfmt {
				if q := bytes.IndexByte(text[i:j], '"'); q >= 0 {
					return dst, fmt.Errorf("byte %d: quote in a logfmt key", i+q+1)
				}
			}
			key = text[i:j]
			i = j
		}
		if p.trim && !p.logfmt {
			key = bytes.TrimSpace(key)
		}
		if len(key) == 0 {
			return dst, fmt.Errorf("byte %d: a pair without a key", start+1)
		}
		if i >= len(text) || !bytes.HasPrefix(text[i:], p.valSep) {
			// A key alone.
			switch p.standalone {
			case "true":
				p.p.addRaw(string(key), []byte("true"))
			case "null":
				p.p.addRaw(string(key), []byte("null"))
			case "error":
				return dst, fmt.Errorf("byte %d: key %q has no value", start+1, key)
			}
			continue
		}
		i += len(p.valSep)
		k := p.p.key(key)
		// The value.
		if p.trim && !p.space {
			for i < len(text) && (text[i] == ' ' || text[i] == '\t') && !p.atPairSep(text, i) {
				i++
			}
		}
		if i < len(text) && p.isQuote(text[i]) {
			v0 := len(p.p.buf)
			if i, err = p.unquote(text, i); err != nil {
				return dst, err
			}
			p.p.fs[k].v0, p.p.fs[k].v1 = v0, len(p.p.buf)
			if p.trim && !p.space {
				for i < len(text) && (text[i] == ' ' || text[i] == '\t') && !p.atPairSep(text, i) {
					i++
				}
			}
			if i < len(text) && !p.atPairSep(text, i) {
				return dst, fmt.Errorf("byte %d: text after a closing quote", i+1)
			}
			continue
		}
		j := p.valueEnd(text, i)
		if p.logfmt {
			if q := bytes.IndexByte(text[i:j], '"'); q >= 0 {
				return dst, fmt.Errorf("byte %d: quote inside an unquoted value", i+q+1)
			}
		}
		v := text[i:j]
		if p.trim && !p.space {
			v = bytes.TrimSpace(v)
		}
		p.p.value(k, v)
		i = j
	}
	return p.finish(dst)
}

// logfmtFast is parseLine for logfmt in one pass: each pair is written to
// dst as it is read. It declines (false, dst unchanged) a line with a
// repeated key, an error or a value that does not convert: parseLine's
// general path then decides, so the result is always the general path's.
//
// Lines repeat their keys in the same places: key n is first compared with
// the previous line's key n (keyCache, which holds its JSON, its type and
// its bit of the repeated-key filter), and only scanned when it differs.
// Unquoted values are scanned eight bytes at a time for their end and for
// bytes a JSON string cannot take as they are; a value without such bytes
// is copied as it is.
func (p *kvParser) logfmtFast(dst, text []byte) ([]byte, bool) {
	dst0 := len(dst)
	dst = append(dst, '{')
	var seen uint64 // a bit per key, from its length and end bytes: most keys skip the comparisons
	n := 0          // keys so far
	i := 0
	for i < len(text) {
		if text[i] == ' ' { // most often one space between pairs
			i++
		}
		for i < len(text) && text[i] <= ' ' && isSpace(text[i]) {
			i++
		}
		if i >= len(text) {
			break
		}
		k0 := i
		var kc *logfmtKey
		switch {
		case n < len(p.keyCache):
			kc = &p.keyCache[n]
		case n < maxLogfmtKeyCache:
			p.keyCache = append(p.keyCache, logfmtKey{})
			kc = &p.keyCache[n]
		default:
			return dst[:dst0], false // a line of many keys
		}
		// The key ends at the first byte of logfmtKeyStop; the cached key
		// has none, so text holding it followed by such a byte (or the
		// end) holds the same key. Most often it is followed by '=',
		// compared with it as one or two words.
		eqd := false // the key and its '=' were matched: i is past them
		if kc.eqLen > 0 && k0+16 <= len(text) &&
			(load64(text, k0)^kc.eq[0])&kc.eqMask[0]|(load64(text, k0+8)^kc.eq[1])&kc.eqMask[1] == 0 {
			i = k0 + kc.eqLen
			eqd = true
		} else if l := len(kc.raw); l > 0 && k0+l <= len(text) && (k0+l == len(text) || logfmtKeyStop[text[k0+l]]) &&
			string(text[k0:k0+l]) == string(kc.raw) {
			i = k0 + l
		} else {
			for i < len(text) && !logfmtKeyStop[text[i]] {
				i++
			}
			if i == k0 {
				return dst[:dst0], false // no key
			}
			key := text[k0:i]
			kc.raw = append(kc.raw[:0], key...)
			kc.json = append(appendJSONString(append(kc.json[:0], ','), key), ':')
			kc.jlen = len(kc.json)
			kc.json = padded(kc.json)
			kc.setWords()
			kc.kind, _ = p.types.lookup(key)
			kc.bit = uint64(1) << ((uint(len(key))*7 + uint(key[0])*3 + uint(key[len(key)-1])) & 63)
		}
		if !eqd && i < len(text) && text[i] == '"' {
			return dst[:dst0], false // a quote in the key
		}
		if seen&kc.bit != 0 {
			// keyCache[:n] holds this line's keys so far.
			for j := range p.keyCache[:n] {
				if string(p.keyCache[j].raw) == string(kc.raw) {
					return dst[:dst0], false
				}
			}
		}
		seen |= kc.bit
		n++
		if n > 1 {
			dst = appendShort(dst, kc.json, 0, kc.jlen)
		} else {
			dst = appendShort(dst, kc.json, 1, kc.jlen-1)
		}
		kind := kc.kind
		if !eqd {
			if i >= len(text) || text[i] != '=' {
				dst = append(dst, "true"...) // a key alone
				continue
			}
			i++
		}
		if i < len(text) && text[i] == '"' {
			if kind == typeString {
				var ok bool
				if dst, i, ok = appendLogfmtQuoted(dst, text, i); !ok || i < len(text) && !isSpace(text[i]) {
					return dst[:dst0], false
				}
				continue
			}
			p.p.buf = p.p.buf[:0]
			var err error
			if i, err = p.unquote(text, i); err != nil || i < len(text) && !isSpace(text[i]) {
				return dst[:dst0], false
			}
			if dst, err = appendTyped(dst, kc.raw, p.p.buf, kind); err != nil {
				return dst[:dst0], false
			}
			continue
		}
		v0 := i
		// Most values end within their first word: that one is looked at
		// here, the rest by logfmtPlainRun.
		if i+8 <= len(text) {
			w := load64(text, i)
			if m := notPlainOrSpace8(w); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				if (kind == typeInt || kind == typeFloat) && i > v0 && text[i] == ' ' &&
					plainNumber(w, i-v0, kind == typeFloat) {
					// appendTyped would write it as it is.
					dst = appendShort(dst, text, v0, i-v0)
					continue
				}
			} else {
				i = logfmtPlainRun(text, i+8)
			}
		} else {
			i = logfmtPlainRun(text, i)
		}
		plain := true
		if i < len(text) && (text[i] > ' ' || !isSpace(text[i])) {
			// A quote, a backslash, a control or a non-ASCII byte: find the
			// end byte by byte.
			plain = false
			for i < len(text) && !logfmtValueStop[text[i]] {
				i++
			}
			if i < len(text) && text[i] == '"' {
				return dst[:dst0], false // a quote inside an unquoted value
			}
		}
		v := text[v0:i]
		switch {
		case kind != typeString:
			var err error
			if dst, err = appendTyped(dst, kc.raw, v, kind); err != nil {
				return dst[:dst0], false
			}
		case plain:
			dst = append(dst, '"')
			dst = appendShort(dst, text, v0, i-v0)
			dst = append(dst, '"')
		default:
			dst = appendJSONString(dst, v)
		}
	}
	return append(dst, '}'), true
}

// plainNumber reports whether the n bytes (1 to 7) of w's low end are a
// number that appendInt (float false) or appendFloat (float true) would
// append as it is: digits without a leading zero, and for a float at most
// one '.' between digits (a leading zero only before it).
func plainNumber(w uint64, n int, float bool) bool {
	mask := ^uint64(0) >> (64 - 8*uint(n))
	w &= mask
	var dot uint64 // the high bit of the '.' bytes
	if float {
		// A byte after a '.' may be marked too (a borrow), then two are.
		x := w ^ '.'*swarOnes
		dot = (x - swarOnes) &^ x & swarHighs
		if dot&(dot-1) != 0 || dot&(0x80|mask&^(mask>>1)) != 0 {
			return false // more than one '.', or one first or last
		}
	}
	// '.' becomes '0'; the bytes past the value '0' too.
	d := w + dot>>6 | '0'*swarOnes&^mask
	if d&0xf0f0f0f0f0f0f0f0|(d+0x0606060606060606)&0xf0f0f0f0f0f0f0f0>>4 != 0x3333333333333333 {
		return false
	}
	return w&0xff != '0' || n == 1 || dot&0x8000 != 0
}

// logfmtPlainRun returns the index of the first byte of text from i on
// that is white space or that a JSON string cannot take as it is (a quote,
// a backslash, a control or a non-ASCII byte), or len(text): eight bytes
// at a time, then one by one.
func logfmtPlainRun(text []byte, i int) int {
	for i+8 <= len(text) {
		if m := notPlainOrSpace8(load64(text, i)); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
		i += 8
	}
	for i < len(text) && jsonPlain[text[i]] && text[i] != ' ' {
		i++
	}
	return i
}

// notPlainOrSpace8 is notPlain8 that also marks the space (every byte up
// to 0x20).
func notPlainOrSpace8(w uint64) uint64 {
	q := w ^ ('"' * swarOnes)
	b := w ^ ('\\' * swarOnes)
	return ((q-swarOnes)&^q | (b-swarOnes)&^b | (w-0x21*swarOnes)&^w | w) & swarHighs
}

// logfmtKeyStop and logfmtValueStop hold the bytes that end a logfmt key
// and an unquoted value (for logfmtFast, which declines on a quote).
var logfmtKeyStop, logfmtValueStop = func() (k, v [256]bool) {
	for c := range 256 {
		v[c] = c == '"' || isSpace(byte(c))
		k[c] = v[c] || c == '='
	}
	return k, v
}()

// appendLogfmtQuoted appends the logfmt quoted value starting at text[i]
// (the quote) to dst as a JSON string, as unquote and appendJSONString
// would, without the unquoted copy, and returns the index after the closing
// quote. ok is false for what it leaves to them (a \\u escape, a missing
// closing quote). Escapes write ASCII, so the runs between them are
// written with the UTF-8 checks appendJSONString makes on the whole value.
func appendLogfmtQuoted(dst, text []byte, i int) (_ []byte, end int, ok bool) {
	dst = append(dst, '"')
	i++
	for {
		j := plainRun(text, i)
		dst = append(dst, text[i:j]...)
		if j < len(text) && text[j] != '"' && text[j] != '\\' {
			// A control or non-ASCII byte: the rest of the run is checked.
			k := j
			for k < len(text) && text[k] != '"' && text[k] != '\\' {
				k++
			}
			dst = appendJSONBody(dst, text[j:k])
			j = k
		}
		switch {
		case j == len(text): // no closing quote
			return dst, j, false
		case text[j] == '"':
			return append(dst, '"'), j + 1, true
		case j+1 == len(text): // a backslash last
			return dst, j, false
		}
		i = j + 2
		switch text[j+1] {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '/':
			dst = append(dst, '/')
		case 'n':
			dst = append(dst, '\\', 'n')
		case 'r':
			dst = append(dst, '\\', 'r')
		case 't':
			dst = append(dst, '\\', 't')
		case 'u':
			return dst, j, false
		default: // kept as written: the backslash here, the byte with the next run
			dst = append(dst, '\\', '\\')
			i = j + 1
		}
	}
}

func (p *kvParser) isQuote(c byte) bool { return p.quote[c] }

// keyEnd returns where the key starting at text[i] ends: at the value
// separator or a pair separator.
func (p *kvParser) keyEnd(text []byte, i int) int {
	if p.space && len(p.valSep) == 1 { // logfmt and the default kv: one scan
		vs := p.valSep[0]
		for i < len(text) {
			if c := text[i]; c == vs || c <= ' ' && isSpace(c) {
				return i
			}
			i++
		}
		return i
	}
	for i < len(text) && !bytes.HasPrefix(text[i:], p.valSep) && !p.atPairSep(text, i) {
		i++
	}
	return i
}

// valueEnd returns where the unquoted value starting at text[i] ends.
func (p *kvParser) valueEnd(text []byte, i int) int {
	if p.space {
		for i < len(text) && !(text[i] <= ' ' && isSpace(text[i])) {
			i++
		}
		return i
	}
	if len(p.pairSep) == 1 {
		if j := bytes.IndexByte(text[i:], p.pairSep[0]); j >= 0 {
			return i + j
		}
		return len(text)
	}
	if j := bytes.Index(text[i:], p.pairSep); j >= 0 {
		return i + j
	}
	return len(text)
}

// atPairSep reports whether a pair separator starts at text[j].
func (p *kvParser) atPairSep(text []byte, j int) bool {
	if p.space {
		return isSpace(text[j])
	}
	return bytes.HasPrefix(text[j:], p.pairSep)
}

// unquote appends the unescaped quoted text starting at text[i] (the
// quote) to p.p.buf and returns the index after the closing quote.
func (p *kvParser) unquote(text []byte, i int) (int, error) {
	q := text[i]
	open := i
	i++
	for i < len(text) {
		j := i
		for j < len(text) && text[j] != q && text[j] != '\\' {
			j++
		}
		p.p.buf = append(p.p.buf, text[i:j]...)
		if i = j; i == len(text) {
			break
		}
		c := text[i]
		switch {
		case c == q:
			return i + 1, nil
		case c == '\\' && i+1 < len(text):
			e := text[i+1]
			i += 2
			switch {
			case e == q || e == '\\' || e == '/':
				p.p.buf = append(p.p.buf, e)
			case p.logfmt && e == 'n':
				p.p.buf = append(p.p.buf, '\n')
			case p.logfmt && e == 'r':
				p.p.buf = append(p.p.buf, '\r')
			case p.logfmt && e == 't':
				p.p.buf = append(p.p.buf, '\t')
			case p.logfmt && e == 'u' && i+4 <= len(text):
				r, ok := hex4(text[i : i+4])
				if !ok {
					return i, fmt.Errorf("byte %d: bad \\u escape", i-1)
				}
				i += 4
				p.p.buf = utf8.AppendRune(p.p.buf, r)
			default: // kept as written
				p.p.buf = append(p.p.buf, '\\', e)
			}
		default:
			p.p.buf = append(p.p.buf, c)
			i++
		}
	}
	return i, fmt.Errorf("byte %d: %w", open+1, errUnterminated)
}

func hex4(b []byte) (rune, bool) {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}
