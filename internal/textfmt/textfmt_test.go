package textfmt

import (
	"bytes"
	"encoding/csv"
	"errors"
	"strings"
	"testing"
)

func splitAll(t testing.TB, row string, delim byte) []string {
	buf, ends, err := SplitCSV(nil, nil, []byte(row), delim, false)
	if err != nil {
		t.Fatalf("SplitCSV(%q): %v", row, err)
	}
	var out []string
	for i := 0; i < len(ends); i += 2 {
		out = append(out, string(buf[ends[i]:ends[i+1]]))
	}
	return out
}

func TestSplitCSV(t *testing.T) {
	for _, tt := range []struct {
		row  string
		want []string
		err  string
	}{
		{`a,b,c`, []string{"a", "b", "c"}, ""},
		{`"a,b",""""`, []string{"a,b", `"`}, ""},
		{`a,,`, []string{"a", "", ""}, ""},
		{"a,\"b\"\r", []string{"a", "b"}, ""},
		{"a,b\r", []string{"a", "b"}, ""},
		{`"open`, nil, "unterminated quoted field"},
		{`a,"b"c`, nil, "extraneous 'c' after a closing quote"},
		{`a,b"c`, nil, "bare quote"},
	} {
		buf, ends, err := SplitCSV(nil, nil, []byte(tt.row), ',', false)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.row, err, tt.err)
			}
			continue
		}
		var got []string
		for i := 0; i < len(ends); i += 2 {
			got = append(got, string(buf[ends[i]:ends[i+1]]))
		}
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("%q: got %q, want %q", tt.row, got, tt.want)
		}
	}
	if _, _, err := SplitCSV(nil, nil, []byte(`"x`), ',', false); !errors.Is(err, ErrUnterminatedQuote) {
		t.Errorf("err %v is not ErrUnterminatedQuote", err)
	}
}

// FuzzCSVRoundTrip: fields written with AppendCSVField split back into the
// same fields, and encoding/csv reads the row the same way.
func FuzzCSVRoundTrip(f *testing.F) {
	f.Add("a", "b,c", `say "hi"`)
	f.Add("", " lead", "x;y")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		fields := []string{a, b, c}
		for _, s := range fields {
			if strings.ContainsAny(s, "\r\n") {
				return // a row is one line
			}
		}
		var row []byte
		for i, s := range fields {
			if i > 0 {
				row = append(row, ',')
			}
			row = AppendCSVField(row, []byte(s), ',', true)
		}
		got := splitAll(t, string(row), ',')
		if strings.Join(got, "\x00") != strings.Join(fields, "\x00") {
			t.Fatalf("row %q split into %q, want %q", row, got, fields)
		}
		rd := csv.NewReader(bytes.NewReader(row))
		rd.LazyQuotes = false
		std, err := rd.Read()
		if err != nil {
			t.Fatalf("encoding/csv cannot read %q: %v", row, err)
		}
		if strings.Join(std, "\x00") != strings.Join(fields, "\x00") {
			t.Fatalf("encoding/csv reads %q as %q, want %q", row, std, fields)
		}
	})
}

// FuzzLogfmtRoundTrip: a value written with AppendLogfmtValue scans back
// as the same value.
func FuzzLogfmtRoundTrip(f *testing.F) {
	f.Add("hello world")
	f.Add(`say "hi"` + "\t\x01=")
	f.Add("")
	f.Fuzz(func(t *testing.T, v string) {
		line := AppendLogfmtValue([]byte("k="), []byte(v))
		line = append(line, " z=1"...)
		var got []string
		_, err := ScanLogfmt(nil, line, func(k, val []byte, bare bool) {
			got = append(got, string(k)+"="+string(val))
		})
		if err != nil {
			t.Fatalf("ScanLogfmt(%q): %v", line, err)
		}
		if len(got) != 2 || got[0] != "k="+v || got[1] != "z=1" {
			t.Fatalf("line %q scanned as %q, want k=%q and z=1", line, got, v)
		}
	})
}

func TestAppendJSONString(t *testing.T) {
	for in, want := range map[string]string{
		"plain": `"plain"`, `q"b\`: `"q\"b\\"`, "\n\t\x01": `"\n\t\u0001"`, "\xff": "\"\ufffd\"", "été": `"été"`,
	} {
		if got := string(AppendJSONString(nil, []byte(in))); got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
	}
}
