package native

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// appendJSONStringRef is appendJSONString one byte at a time (its code
// before plainRun): the reference the eight-byte scan must equal.
func appendJSONStringRef(dst, s []byte) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case jsonPlain[c]:
			dst = append(dst, c)
			i++
		case c < utf8.RuneSelf:
			dst = appendEscapedASCII(dst, c)
			i++
		default:
			r, size := utf8.DecodeRune(s[i:])
			if r == utf8.RuneError && size == 1 {
				dst = append(dst, `\ufffd`...)
			} else {
				dst = append(dst, s[i:i+size]...)
			}
			i += size
		}
	}
	return append(dst, '"')
}

var jsonStringSeeds = []string{"", "plain text of some length", `a"b\c`, "tab\there\nnl\x01\x1f\x7f",
	"é中文🎉 mixed ascii", "\xff\xfe bad utf8 \xe2\x82", "12345678\"", "1234567\\8", "\x80", "abcdefgh\xc3\xa9ijklmnop\x00"}

func checkJSONString(t *testing.T, s []byte) {
	want := appendJSONStringRef(nil, s)
	if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
		t.Fatalf("appendJSONString(%q) = %s, want %s", s, got, want)
	}
	if got := appendJSONString(nil, string(s)); !bytes.Equal(got, want) {
		t.Fatalf("appendJSONString(string %q) = %s, want %s", s, got, want)
	}
}

func TestAppendJSONStringSWAR(t *testing.T) {
	for _, s := range jsonStringSeeds {
		checkJSONString(t, []byte(s))
		// Every offset of the special byte within an eight-byte word.
		for pad := range 9 {
			checkJSONString(t, append(bytes.Repeat([]byte{'x'}, pad), s...))
		}
	}
	for c := range 256 {
		for pad := range 16 {
			b := bytes.Repeat([]byte{'y'}, 17)
			b[pad] = byte(c)
			checkJSONString(t, b)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range jsonStringSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkJSONString)
}
