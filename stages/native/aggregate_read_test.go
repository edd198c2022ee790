package native

import (
	"fmt"
	"testing"
	"time"
)

var topPaths = []string{"ts", "service", "latency_ms", "a", "n-1"}

var topRecords = []string{
	`{"ts":"2026-01-01T00:00:00.000454Z","service":"worker","latency_ms":130.999,"tags":["a","b"]}`,
	` {"service" : "a\"b\u00e9" , "latency_ms": -1.5e3 , "a": {"x":[1,{"y":"}"}]}}`,
	`{"service":"x","service":"y"}`,
	`{"a":null,"ts":true,"latency_ms":false,"n-1":"","service":[]}`,
	`{"latency_ms":"12.5","s\u0065rvice":"z"}`, // an escaped key: the general path
	`{"b":"service","service":"q"}`,
	`{}`,
	`[{"service":"x"}]`,
	`{"service":"x"`,
	`{"service":tru}`,
	`{"service":01}`,
	`{"latency_ms":1e999}`,
	"{\"a\":\"\x01\"}",
	`{"a":"x"} trailing`,
	"\n{\"a\":1}",
	`{"a":1,}`,
	`{"a" 1}`,
	`not json`,
	``,
}

// checkTopFields compares topFields with field on record data: where the
// scan takes a record, every path reads as field reads it.
func checkTopFields(t *testing.T, data []byte) bool {
	top := newTopFields(topPaths)
	if !top.scan(data) {
		return false
	}
	for _, p := range topPaths {
		got, gerr := top.get(p)
		want, werr := field(data, p)
		if fmt.Sprint(gerr) != fmt.Sprint(werr) {
			t.Fatalf("%q path %s: error %v, field: %v", data, p, gerr, werr)
		}
		if got.Type != want.Type || got.Raw != want.Raw || got.Str != want.Str || got.Num != want.Num || got.Exists() != want.Exists() {
			t.Fatalf("%q path %s: %+v, field: %+v", data, p, got, want)
		}
	}
	return true
}

func TestTopFields(t *testing.T) {
	taken := 0
	for _, r := range topRecords {
		if checkTopFields(t, []byte(r)) {
			taken++
		}
	}
	if taken < 6 {
		t.Fatalf("the scan took %d of the records; want the plain ones (at least 6)", taken)
	}
	if newTopFields([]string{"a.b"}) != nil || newTopFields([]string{`a\.b`}) != nil {
		t.Fatal("a dotted or escaped path must take the general path")
	}
}

func FuzzTopFields(f *testing.F) {
	for _, r := range topRecords {
		f.Add([]byte(r))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkTopFields(t, data) })
}

var rfc3339Texts = []string{
	"2026-01-01T00:00:00.000454Z", "2026-01-01T00:00:00Z", "1999-12-31T23:59:59.999999999+05:30",
	"2024-02-29T12:00:00-08:00", "2023-02-29T12:00:00Z", "2026-13-01T00:00:00Z", "2026-01-01T24:00:00Z",
	"2026-01-01T00:00:60Z", "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00.1234567891Z", "2026-01-01t00:00:00Z",
	"2026-01-01T00:00:00z", "2026-01-01T00:00:00+2:00", "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00-00:00",
	"2026-01-01 00:00:00Z", "+2026-01-01T00:00:00Z", "2026-1-01T00:00:00Z", "1678-01-01T00:00:00Z", "2261-12-31T23:59:59.5-01:00",
}

func checkRFC3339(t *testing.T, s string) {
	ns, y, ok := parseRFC3339Fast([]byte(s))
	if !ok {
		return
	}
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("%q: fast %d, time.Parse: %v", s, ns, err)
	}
	if tm.Year() != y || (y >= 1678 && y <= 2261 && tm.UnixNano() != ns) {
		t.Fatalf("%q: fast %d (year %d), time.Parse %d (year %d)", s, ns, y, tm.UnixNano(), tm.Year())
	}
}

func TestParseRFC3339Fast(t *testing.T) {
	for _, s := range rfc3339Texts {
		checkRFC3339(t, s)
	}
	for _, s := range []string{"2026-01-01T00:00:00.000454Z", "2024-02-29T12:00:00-08:00", "2026-01-01T00:00:00-00:00"} {
		if _, _, ok := parseRFC3339Fast([]byte(s)); !ok {
			t.Errorf("%q: the fast path declined", s)
		}
	}
}

func FuzzParseRFC3339Fast(f *testing.F) {
	for _, s := range rfc3339Texts {
		f.Add(s)
	}
	f.Fuzz(checkRFC3339)
}
