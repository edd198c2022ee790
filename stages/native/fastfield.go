package native

import (
	"bytes"
	"encoding/binary"
	"math/bits"
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"
)

// topKey is a field path that is one key of the record's top-level object,
// made of letters, digits, '_' and '-' (level, msg, status_code): the
// paths the hot stages (select, case, set) look up most. For such a path,
// lookup finds the value in one pass over the record instead of three
// (jsonkey.Path's searches for a backslash and for the key twice, then
// gjson.Get), and allocates nothing.
type topKey struct {
	key    string // "" when the path is not such a key: callers use field
	quoted []byte // `"key"`
	// word and mask: the first eight bytes of quoted (all of it when it
	// is shorter, the mask covering its bytes) as a little-endian word,
	// so that most keys are compared with one load.
	word, mask uint64
	// rare is the byte of quoted (at rareAt) least frequent in log
	// records by a fixed ranking: the search for a repeat of the key
	// after its value looks for it (see absentFrom).
	rare   byte
	rareAt int
	// far: the last lookup looked at more than farKeys keys (or did not
	// find the key): the next one uses the quote map (lookupMap).
	far bool
}

// farKeys is how many keys lookup scans before the quote map pays.
const farKeys = 3

// nextMarked returns the index of the first byte at or after i marked in
// m (see quoteMap), or -1; i is at most the record's length.
func nextMarked(m []uint64, i int) int {
	if x := m[i>>6] >> (uint(i) & 63); x != 0 {
		return i + bits.TrailingZeros64(x)
	}
	for w := i>>6 + 1; w < len(m); w++ {
		if x := m[w]; x != 0 {
			return w<<6 + bits.TrailingZeros64(x)
		}
	}
	return -1
}

func newTopKey(path string) topKey {
	if path == "" {
		return topKey{}
	}
	for i := 0; i < len(path); i++ {
		c := path[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return topKey{}
		}
	}
	k := topKey{key: path, quoted: []byte(`"` + path + `"`)}
	for i := 0; i < len(k.quoted) && i < 8; i++ {
		k.word |= uint64(k.quoted[i]) << (8 * i)
		k.mask |= 0xff << (8 * i)
	}
	k.rare, k.rareAt = k.quoted[1], 1
	for i := 2; i < len(k.quoted)-1; i++ {
		if c := k.quoted[i]; rarity(c) > rarity(k.rare) {
			k.rare, k.rareAt = c, i
		}
	}
	return k
}

// rarity ranks the bytes a top-level key is made of by how seldom they
// occur in log records (higher: rarer): lower-case letters by their
// frequency in English text, upper-case ones rarer than those, digits
// and '-' (timestamps, numbers) the most common, '_' between.
func rarity(c byte) int {
	const letters = "etaoinsrhldcumfpgwybvkxjqz" // most to least frequent
	switch {
	case 'a' <= c && c <= 'z':
		return 10 + strings.IndexByte(letters, c)
	case 'A' <= c && c <= 'Z':
		return 40 + strings.IndexByte(letters, c|0x20)
	case c == '_':
		return 5
	}
	return 0
}

// at reports whether data[i:] starts with the quoted key.
func (k *topKey) at(data []byte, i int) bool {
	if len(data)-i >= 8 {
		if binary.LittleEndian.Uint64(data[i:])&k.mask != k.word {
			return false
		}
		if len(k.quoted) <= 8 {
			return true
		}
	}
	return len(data)-i >= len(k.quoted) && string(data[i:i+len(k.quoted)]) == k.quotedString()
}

// quotedString returns quoted as a string without copying it.
func (k *topKey) quotedString() string { return unsafe.String(&k.quoted[0], len(k.quoted)) }

// absentFrom reports whether rest, the text after the key's value, holds
// neither a backslash (an escaped spelling of the key might hide behind
// one) nor the quoted key (a repeat of it). It looks for the key's rarest
// byte and compares the key around each one it finds, instead of looking
// for the quoted key, whose quote starts every string of the record.
func (k *topKey) absentFrom(rest []byte) bool {
	if bytes.IndexByte(rest, '\\') >= 0 {
		return false
	}
	q := k.quotedString()
	for i := k.rareAt; i < len(rest); i++ {
		j := bytes.IndexByte(rest[i:], k.rare)
		if j < 0 {
			return true
		}
		i += j
		if p := i - k.rareAt; p+len(q) <= len(rest) && string(rest[p:p+len(q)]) == q {
			return false
		}
	}
	return true
}

// lookup finds the key in data, a JSON object (leading blanks allowed).
// With ok, found tells whether the key is there, and data[vs:ve] is its
// value's JSON text; the result is what field (gjson.Get after
// jsonkey.Path) gives for a record that passes jsonkey.Path. ok is false
// when lookup cannot decide cheaply and exactly: data is not an object or
// not well formed where it looked, a key before the one found holds a
// backslash (it might be an escaped spelling of the key), or the text
// after the value holds a backslash or the quoted key (it might repeat the
// key). The caller then takes the general path (field), which gives the
// same answer or the error.
func (k *topKey) lookup(data []byte) (vs, ve int, found, ok bool) {
	if haveQuoteMap && k.far && len(data) < quoteMapWords*64 {
		return k.lookupMap(data)
	}
	return k.lookupScan(data)
}

// quoteMapWords is the size of lookupMap's map on the stack: records of up
// to 1 KiB.
const quoteMapWords = 16

// lookupScan is lookup by scanning the record from its start, the keys
// eight bytes at a time and the values with bytes.IndexByte.
func (k *topKey) lookupScan(data []byte) (vs, ve int, found, ok bool) {
	n := 0 // keys looked at
	i := skipLeading(data)
	if i >= len(data) || data[i] != '{' {
		return 0, 0, false, false
	}
	i = skipBlanks(data, i+1)
	if i < len(data) && data[i] == '}' {
		return 0, 0, false, true
	}
	if i >= len(data) || data[i] != '"' {
		return 0, 0, false, false
	}
	for {
		// data[i] opens a key; j: its closing quote. A backslash in a
		// key sends the record to the general path.
		n++
		var j int
		if found = k.at(data, i); found {
			j = i + len(k.quoted) - 1
		} else if j = quoteOrBackslashFrom(data, i+1); j >= len(data) || data[j] == '\\' {
			return 0, 0, false, false
		}
		// The value: right after the colon in most records.
		if vs = j + 2; vs >= len(data) || data[j+1] != ':' || data[vs] <= ' ' {
			if i = skipBlanks(data, j+1); i >= len(data) || data[i] != ':' {
				return 0, 0, false, false
			}
			vs = skipBlanks(data, i+1)
		}
		if ve = skipValue(data, vs); ve < 0 {
			return 0, 0, false, false
		}
		if found {
			if !k.absentFrom(data[ve:]) {
				return 0, 0, false, false
			}
			k.far = n > farKeys
			return vs, ve, true, true
		}
		// The next key: right after the comma in most records.
		if i = ve + 1; i < len(data) && data[ve] == ',' && data[i] == '"' {
			continue
		}
		if i = skipBlanks(data, ve); i >= len(data) {
			return 0, 0, false, false
		}
		switch data[i] {
		case '}':
			k.far = true
			return 0, 0, false, true
		case ',':
			if i = skipBlanks(data, i+1); i < len(data) && data[i] == '"' {
				continue
			}
		}
		return 0, 0, false, false
	}
}

// lookupMap is lookup with a map of the record's quotes and backslashes
// (quoteMap): keys and strings end at the next marked byte. Building the
// map costs about as much as scanning two members, so lookup takes it
// for keys found far into the record or not at all (far).
func (k *topKey) lookupMap(data []byte) (vs, ve int, found, ok bool) {
	var buf [quoteMapWords]uint64
	m := buf[:len(data)/64+1]
	quoteMap(data, m)
	n := 0 // keys looked at
	i := skipLeading(data)
	if i >= len(data) || data[i] != '{' {
		return 0, 0, false, false
	}
	i = skipBlanks(data, i+1)
	if i < len(data) && data[i] == '}' {
		return 0, 0, false, true
	}
	if i >= len(data) || data[i] != '"' {
		return 0, 0, false, false
	}
	for {
		// data[i] opens a key; j: its closing quote. A backslash in a
		// key sends the record to the general path.
		n++
		j := nextMarked(m, i+1)
		if j < 0 || data[j] != '"' {
			return 0, 0, false, false
		}
		found = j+1-i == len(k.quoted) && string(data[i:j+1]) == k.quotedString()
		// The value: right after the colon in most records.
		if vs = j + 2; vs >= len(data) || data[j+1] != ':' || data[vs] <= ' ' {
			if i = skipBlanks(data, j+1); i >= len(data) || data[i] != ':' {
				return 0, 0, false, false
			}
			vs = skipBlanks(data, i+1)
		}
		if vs < len(data) && data[vs] == '"' {
			// A string ends at its first quote when no backslash comes
			// before it.
			if ve = nextMarked(m, vs+1); ve < 0 {
				return 0, 0, false, false
			}
			if data[ve] == '"' {
				ve++
			} else if ve = skipEscapedString(data, vs); ve < 0 {
				return 0, 0, false, false
			}
		} else if ve = skipValue(data, vs); ve < 0 {
			return 0, 0, false, false
		}
		if found {
			if !k.absentFrom(data[ve:]) {
				return 0, 0, false, false
			}
			k.far = n > farKeys
			return vs, ve, true, true
		}
		// The next key: right after the comma in most records.
		if i = ve + 1; i < len(data) && data[ve] == ',' && data[i] == '"' {
			continue
		}
		if i = skipBlanks(data, ve); i >= len(data) {
			return 0, 0, false, false
		}
		switch data[i] {
		case '}':
			k.far = true
			return 0, 0, false, true
		case ',':
			if i = skipBlanks(data, i+1); i < len(data) && data[i] == '"' {
				continue
			}
		}
		return 0, 0, false, false
	}
}

// skipLeading returns the index of the first byte of data that is not a
// space, tab or CR: the blanks field lets through before a record's value
// (a record that starts with a newline is not JSON to it).
func skipLeading(data []byte) int {
	i := 0
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r') {
		i++
	}
	return i
}

// skipBlanks returns the index of the first byte of data[i:] that is not
// JSON white space.
func skipBlanks(data []byte, i int) int {
	for i < len(data) && data[i] <= ' ' && (data[i] == ' ' || data[i] == '\t' || data[i] == '\r' || data[i] == '\n') {
		i++
	}
	return i
}

// quoteOrBackslashFrom returns the index of the first '"' or '\\' of
// data[i:], or len(data); eight bytes at a time.
func quoteOrBackslashFrom(data []byte, i int) int {
	for ; i+8 <= len(data); i += 8 {
		if m := quoteOrBackslash(binary.LittleEndian.Uint64(data[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for i < len(data) && data[i] != '"' && data[i] != '\\' {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at data[i], or -1
// when it does not look like one (it checks the shape only: the records
// were validated by the ndjson input, and a record that was not is sent
// to the general path by lookup's other checks or gives a result that
// gjson's lenient parse could give too).
func skipValue(data []byte, i int) int {
	if i >= len(data) {
		return -1
	}
	switch c := data[i]; c {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				if i = skipString(data, i); i < 0 {
					return -1
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return -1
	default:
		j := i
		for j < len(data) && !endsScalar[data[j]] {
			j++
		}
		if j == i || j == len(data) {
			return -1 // a record that is one scalar has no object around it
		}
		return j
	}
}

// endsScalar marks the bytes that end a number, true, false or null
// inside an object or a list.
var endsScalar = [256]bool{',': true, '}': true, ']': true, ' ': true, '\t': true, '\r': true, '\n': true}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// quoteOrBackslash has the high bit of each byte of w that is '"' or '\\'
// set, and of no byte below the lowest such (the borrows of the
// subtractions run upwards), so TrailingZeros64/8 is the first one's index.
func quoteOrBackslash(w uint64) uint64 {
	q := w ^ ('"' * ones)
	b := w ^ ('\\' * ones)
	return ((q-ones)&^q | (b-ones)&^b) & highs
}

// skipString returns the end (past the closing quote) of the JSON string
// starting at data[i] (a quote), or -1. The first quote after data[i]
// closes the string unless a backslash is right before it (a backslash
// further back escapes another byte): that case is left to
// skipEscapedString.
func skipString(data []byte, i int) int {
	q := bytes.IndexByte(data[i+1:], '"')
	if q < 0 {
		return -1
	}
	if q += i + 1; data[q-1] != '\\' {
		return q + 1
	}
	return skipEscapedString(data, i)
}

// skipEscapedString is skipString for any string: it looks at eight bytes
// at a time for a quote or a backslash, and steps over each backslash and
// the byte it escapes.
func skipEscapedString(data []byte, i int) int {
	i++
	for {
		for i+8 <= len(data) {
			if m := quoteOrBackslash(binary.LittleEndian.Uint64(data[i : i+8])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		for i < len(data) && data[i] != '"' && data[i] != '\\' {
			i++
		}
		switch {
		case i >= len(data):
			return -1
		case data[i] == '"':
			return i + 1
		}
		i += 2 // a backslash and the byte it escapes
		if i > len(data) {
			return -1
		}
	}
}

// view returns the gjson value of the JSON text raw without copying it:
// its strings alias raw, so it is valid only while raw is not changed and
// must not be kept (select tests it and lets it go).
func view(raw []byte) gjson.Result {
	if len(raw) == 0 {
		return gjson.Result{}
	}
	return gjson.Parse(unsafe.String(&raw[0], len(raw)))
}

// plainString reports whether s, the contents of a JSON string, holds
// printable ASCII only with no escape: such a string can be changed in
// place by a transform that maps ASCII letters to ASCII letters.
func plainString(s []byte) bool {
	for _, c := range s {
		if c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}

// slabSize is the size of the blocks a slab carves records from.
const slabSize = 64 << 10

// slab hands out room for records built by a stage instance, carved from
// blocks of slabSize bytes instead of one allocation each. A block is
// never reused: it is freed when the last record carved from it is, so a
// record may live as long as it likes.
type slab struct{ buf []byte }

// alloc returns an empty slice with room for n bytes.
func (s *slab) alloc(n int) []byte {
	if n > slabSize/8 {
		return make([]byte, 0, n)
	}
	if cap(s.buf)-len(s.buf) < n {
		s.buf = make([]byte, 0, slabSize)
	}
	l := len(s.buf)
	s.buf = s.buf[:l+n]
	return s.buf[l : l : l+n]
}
