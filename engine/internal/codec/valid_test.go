package codec

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

var validCases = []struct {
	in   string
	want bool
}{
	{`{}`, true},
	{` {"a":1} `, true},
	{"\t[1, 2.5e-3, -0, true, false, null, \"x\"]\r\n", true},
	{`{"a":{"b":[{"c":"\u00e9\n\"\\\/"}]}}`, true},
	{`"a long string with more than eight bytes and an escape \" in it"`, true},
	{`"tab	inside"`, false},
	{`"ctrl` + "\x01" + `"`, false},
	{`"unterminated`, false},
	{`"bad escape \x"`, false},
	{`"short \u12"`, false},
	{`"é ü 漢字 é ü 漢字"`, true},
	{``, false},
	{`   `, false},
	{`{`, false},
	{`{"a"}`, false},
	{`{"a":}`, false},
	{`{"a":1,}`, false},
	{`{,}`, false},
	{`[1,]`, false},
	{`[,1]`, false},
	{`[1 2]`, false},
	{`{"a":1]`, false},
	{`[1}`, false},
	{`{} {}`, false},
	{`01`, false},
	{`-`, false},
	{`-a`, false},
	{`1.`, false},
	{`1.e5`, false},
	{`1e`, false},
	{`1e+`, false},
	{`1E-7`, true},
	{`[7,123,9.5,10e3,4E+1,5x]`, false},
	{`[7,123,9.5,10e3,4E+1,5]`, true},
	{`{"a":12.}`, false},
	{`{"a":3e}`, false},
	{`{"a":42}`, true},
	{`123`, true},
	{`1-2`, false},
	{`tru`, false},
	{`nul`, false},
	{`fals`, false},
	{`truex`, false},
	{`{"a":1}x`, false},
	{`{1:2}`, false},
	// Empty and nested containers: the kind of the one around them
	// after they close.
	{`{"a":{},"b":[]}`, true},
	{`[{},[],{"a":[]},[{}]]`, true},
	{`{"a":[{}],"b":{"c":[]},"d":1}`, true},
	{`[{"a":1},2,[3,{}]]`, true},
	{`[{}:1]`, false},
	{`{"a":{}]`, false},
	{`[[]}`, false},
	{`{"a":[],"b"}`, false},
	{`[{},"a":1]`, false},
	{`{"a":[1],2}`, false},
	{`{"a" :{ } ,"b": [ ] }`, true},
	// Members the loop for plain members takes, and their edges.
	{`{"a":"x","b":12,"c":1.5,"d":["p","q"],"e":[],"f":["p",1],"g":"y"}`, true},
	{`{"a":["p",]}`, false},
	{`{"a":["p" ]}`, true},
	{`{"a":["p","q\"r"],"b":1}`, true},
	{`{"a":["p"],"b":1} `, true},
	{`{"a":["p"],"b":1}}`, false},
	{`{"a":["p"],"b":1},`, false},
	{`{"a":["p"}`, false},
	{`{"a":["p",`, false},
	{`{"a":["p`, false},
	{`{"a":1.}`, false},
	{`{"a":1.5e}`, false},
	{`{"a":1.5e+2,"b":"x"}`, true},
	{`{"a":0,"b":-1,"c":01}`, false},
	{`{"a":"x" ,"b":"y"}`, true},
	{`{"a":"x","b":"y"`, false},
	{`{"a":"x","b":"y`, false},
	{`{"a":"x",`, false},
	{`{"a":`, false},
	{`{"a"`, false},
	{`[{"a":"x"}]`, true},
	{`[{"a":"x"}}`, false},
	{`{"a":{"b":"x"},"c":"y"}`, true},
	{`{"a":"` + "\x01" + `"}`, false},
	{`{"a` + "\x01" + `":1}`, false},
	{strings.Repeat("[", 3000) + strings.Repeat("]", 3000), true},
	{strings.Repeat(`{"a":`, 2000) + "1" + strings.Repeat("}", 2000), true},
	{strings.Repeat("[", 3000) + strings.Repeat("]", 2999), false},
	{strings.Repeat("[", 1000) + strings.Repeat("]", 1001), false},
}

func TestValidJSON(t *testing.T) {
	for _, c := range validCases {
		if got := ValidJSON([]byte(c.in)); got != c.want {
			t.Errorf("ValidJSON(%.40q) = %v, want %v", c.in, got, c.want)
		}
		if g := gjson.ValidBytes([]byte(c.in)); g != c.want {
			t.Errorf("gjson.ValidBytes(%.40q) = %v: the case's want is wrong", c.in, g)
		}
	}
}

// FuzzValidJSON: ValidJSON accepts exactly what gjson.ValidBytes accepts.
func FuzzValidJSON(f *testing.F) {
	for _, c := range validCases {
		f.Add([]byte(c.in))
	}
	f.Add(benchRecord)
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := ValidJSON(b), gjson.ValidBytes(b); got != want {
			t.Fatalf("ValidJSON(%q) = %v, gjson.ValidBytes = %v", b, got, want)
		}
	})
}

var benchRecord = []byte(`{"ts":"2026-01-01T00:00:00.000454Z","level":"error","service":"worker","method":"GET","path":"/health","status":503,"latency_ms":130.999,"user":"u36701","msg":"token slow connection slow","tags":["prod","prod"]}`)

// BenchmarkValidJSON checks one record of the shared benchmark data (221
// bytes); BenchmarkValidJSONGJSON is the check it replaced.
func BenchmarkValidJSON(b *testing.B) {
	b.SetBytes(int64(len(benchRecord)))
	for b.Loop() {
		if !ValidJSON(benchRecord) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkValidJSONGJSON(b *testing.B) {
	b.SetBytes(int64(len(benchRecord)))
	for b.Loop() {
		if !gjson.ValidBytes(benchRecord) {
			b.Fatal("invalid")
		}
	}
}

// TestSpecialMap: the map of special bytes (SSE2 on amd64) equals the one
// built a byte at a time, at every length and offset around the 16- and
// 64-byte block edges, and the SWAR fallback equals it too.
func TestSpecialMap(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("a\"\\\x00\x1f\x20\x7f\x80\xff:{")
	for n := 0; n < 300; n++ {
		for round := 0; round < 20; round++ {
			b := make([]byte, n)
			for i := range b {
				b[i] = alphabet[r.IntN(len(alphabet))]
			}
			want := make([]uint64, n/64+1)
			for i, c := range b {
				if c == '"' || c == '\\' || c < ' ' {
					want[i>>6] |= 1 << (i & 63)
				}
			}
			got := make([]uint64, n/64+1)
			specialMap(b, got)
			goGot := make([]uint64, n/64+1)
			specialMapGo(b, goGot)
			for w := range want {
				if got[w] != want[w] || goGot[w] != want[w] {
					t.Fatalf("len %d word %d: specialMap %#x, specialMapGo %#x, want %#x (%q)", n, w, got[w], goGot[w], want[w], b)
				}
			}
		}
	}
}

// BenchmarkValidJSONRecords checks the records of the file named by
// $VALID_RECORDS (one a line, e.g. go run /work/shared/bench/gen/main.go
// -n 2000 -seed 42): ns/op is per record.
func BenchmarkValidJSONRecords(b *testing.B) {
	name := os.Getenv("VALID_RECORDS")
	if name == "" {
		b.Skip("VALID_RECORDS not set")
	}
	data, err := os.ReadFile(name)
	if err != nil {
		b.Fatal(err)
	}
	recs := bytes.Split(bytes.TrimSpace(data), []byte("\n"))
	b.ResetTimer()
	k := 0
	for b.Loop() {
		if !ValidJSON(recs[k]) {
			b.Fatalf("record %d invalid", k)
		}
		if k++; k == len(recs) {
			k = 0
		}
	}
}
