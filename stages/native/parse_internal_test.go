package native

import (
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// Every pattern of the grok set compiles under RE2, alone and captured.
func TestGrokPatternSetCompiles(t *testing.T) {
	set := grokPatterns()
	if len(set) < 200 {
		t.Fatalf("%d patterns, want the whole set", len(set))
	}
	names := make([]string, 0, len(set))
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if _, err := compileGrok("%{"+n+":x}", nil); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
}

func TestStrftimeRoundTrip(t *testing.T) {
	at := time.Date(2024, 3, 5, 13, 4, 5, 123456789, time.FixedZone("", -(5*3600+30*60)))
	cases := []struct{ layout, text string }{
		{"%Y-%m-%dT%H:%M:%S.%N%:z", "2024-03-05T13:04:05.123456789-05:30"},
		{"%d/%b/%Y:%H:%M:%S %z", "05/Mar/2024:13:04:05 -0530"},
		{"%a %b %e %I:%M:%S %p %Y", "Tue Mar  5 01:04:05 PM 2024"},
		{"%A, %d %B %y %T.%L", "Tuesday, 05 March 24 13:04:05.123"},
		{"%F %R %j %%", "2024-03-05 13:04 065 %"},
		{"%D %H:%M:%S.%f", "03/05/24 13:04:05.123456"},
	}
	for _, c := range cases {
		f, err := compileStrftime(c.layout)
		if err != nil {
			t.Fatalf("%s: %v", c.layout, err)
		}
		if got := string(f.format(nil, at)); got != c.text {
			t.Errorf("format %s = %q, want %q", c.layout, got, c.text)
		}
		p, err := f.parse([]byte(c.text), at.Location(), time.Now)
		if err != nil {
			t.Errorf("parse %s %q: %v", c.layout, c.text, err)
			continue
		}
		if got := string(f.format(nil, p.In(at.Location()))); got != c.text {
			t.Errorf("parse+format %s = %q, want %q", c.layout, got, c.text)
		}
	}
	// %s
	f, _ := compileStrftime("%s")
	if p, err := f.parse([]byte("1700000000"), time.UTC, time.Now); err != nil || p.Unix() != 1700000000 {
		t.Errorf("%%s: %v %v", p, err)
	}
	// Bad dates and texts fail.
	f, _ = compileStrftime("%Y-%m-%d")
	for _, bad := range []string{"2023-02-29", "2024-13-01", "2024-01-01x", "24-01-01", ""} {
		if _, err := f.parse([]byte(bad), time.UTC, time.Now); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// A layout without a year takes the current year, or the one before for
// a date in the future (syslog's December lines read in January).
func TestStrftimeYear(t *testing.T) {
	f, _ := compileStrftime("%b %e %H:%M:%S")
	now := func() time.Time { return time.Date(2025, 1, 1, 0, 30, 0, 0, time.UTC) }
	p, err := f.parse([]byte("Dec 31 23:59:00"), time.UTC, now)
	if err != nil || p.Year() != 2024 {
		t.Errorf("Dec 31 read on Jan 1 = %v, %v; want 2024", p, err)
	}
	p, err = f.parse([]byte("Jan  1 00:10:00"), time.UTC, now)
	if err != nil || p.Year() != 2025 {
		t.Errorf("Jan 1 = %v, %v; want 2025", p, err)
	}
}

func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"plain", "quote \" back \\ nl \n tab \t ctl \x01", "é ü 日本", "bad \xff\xfe utf8", ""} {
		b := appendJSONString(nil, s)
		var got string
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("%q -> %s: %v", s, b, err)
		}
		if want := strings.ToValidUTF8(s, "\ufffd"); got != want && !strings.Contains(s, "\xff") {
			t.Errorf("%q -> %q", s, got)
		}
	}
}

func TestTypeConversions(t *testing.T) {
	cases := []struct {
		typ  valueType
		in   string
		want string // "" for an error
	}{
		{typeInt, "42", "42"}, {typeInt, "-0", "0"}, {typeInt, "+7", "7"}, {typeInt, "007", "7"},
		{typeInt, "9223372036854775807", "9223372036854775807"}, {typeInt, "9223372036854775808", ""},
		{typeInt, "1.5", ""}, {typeInt, "x", ""}, {typeInt, "", "null"},
		{typeFloat, "1.50", "1.50"}, {typeFloat, "+1.5", "1.5"}, {typeFloat, ".5", "0.5"}, {typeFloat, "1e400", ""},
		{typeFloat, "NaN", ""}, {typeFloat, "abc", ""},
		{typeBool, "true", "true"}, {typeBool, "F", "false"}, {typeBool, "yes", ""},
		{typeString, "", `""`},
	}
	for _, c := range cases {
		var p parsed
		i := p.keyString("k")
		p.value(i, []byte(c.in))
		p.fs[i].kind = c.typ
		got, err := p.render(nil, nil, false)
		if c.want == "" {
			if err == nil {
				t.Errorf("%v %q = %s, want an error", c.typ, c.in, got)
			}
			continue
		}
		if err != nil || string(got) != `{"k":`+c.want+`}` {
			t.Errorf("%v %q = %s, %v; want %s", c.typ, c.in, got, err, c.want)
		}
	}
}

// Dotted keys nest in the order each object first appears.
func TestRenderNested(t *testing.T) {
	var p parsed
	for _, kv := range [][2]string{{"a.x", "1"}, {"b", "2"}, {"a.y.z", "3"}, {"c.d", "4"}, {"a.w", "5"}} {
		p.addString(kv[0], []byte(kv[1]))
	}
	got, err := p.render(nil, nil, true)
	want := `{"a":{"x":"1","y":{"z":"3"},"w":"5"},"b":"2","c":{"d":"4"}}`
	if err != nil || string(got) != want {
		t.Errorf("got %s, %v; want %s", got, err, want)
	}
}

// A line a pattern does not match fails with ErrNoMatch.
func TestNoMatchIsErrNoMatch(t *testing.T) {
	gp, err := compileGrok("^%{INT:n}$", nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &grokParser{pats: []grokPattern{gp}}
	if _, err := g.parseLine(nil, []byte("x")); !errors.Is(err, ErrNoMatch) {
		t.Errorf("grok: %v, want ErrNoMatch", err)
	}
	r := newRegexParser(regexp.MustCompile(`^(?P<n>\d+)$`), `^(?P<n>\d+)$`, []string{"", "n"}, nil)
	if _, err := r.parseLine(nil, []byte("x")); !errors.Is(err, ErrNoMatch) {
		t.Errorf("regex: %v, want ErrNoMatch", err)
	}
	if out, err := r.parseLine(nil, []byte("12")); err != nil || string(out) != `{"n":"12"}` {
		t.Errorf("regex: %s, %v", out, err)
	}
}
