package script

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// enc encodes strings as JSON strings and "undefined" as a deletion.
type enc struct{}

func (enc) EncodeField(_ string, v string) ([]byte, bool, error) {
	if v == "undefined" {
		return nil, true, nil
	}
	b, err := json.Marshal(v)
	return b, false, err
}

func TestLazy(t *testing.T) {
	const rec = `{"a": 1,  "b":"x", "c.d":{"e":2}}`
	cases := []struct {
		name string
		edit func(l *Lazy[string])
		want string
		keys string
	}{
		{"untouched keeps the bytes", func(*Lazy[string]) {}, rec, "a,b,c.d"},
		{"write in place", func(l *Lazy[string]) { l.Set("b", "y") }, `{"a": 1,  "b":"y", "c.d":{"e":2}}`, "a,c.d,b"},
		{"new field last", func(l *Lazy[string]) { l.Set("z", "new") }, `{"a": 1,  "b":"x", "c.d":{"e":2},"z":"new"}`, "a,b,c.d,z"},
		{"delete", func(l *Lazy[string]) { l.Delete("a") }, `{  "b":"x", "c.d":{"e":2}}`, "b,c.d"},
		{"delete then write", func(l *Lazy[string]) { l.Set("q", "1"); l.Delete("q"); l.Set("q", "2") }, `{"a": 1,  "b":"x", "c.d":{"e":2},"q":"2"}`, "a,b,c.d,q"},
		{"written undefined deletes", func(l *Lazy[string]) { l.Set("b", "undefined") }, `{"a": 1, "c.d":{"e":2}}`, "a,c.d,b"},
		{"field names with dots", func(l *Lazy[string]) { l.Set("c.d", "v") }, `{"a": 1,  "b":"x", "c.d":"v"}`, "a,b,c.d"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := &Lazy[string]{Data: []byte(rec)}
			c.edit(l)
			got, err := l.Encode(enc{})
			if err != nil || string(got) != c.want {
				t.Errorf("Encode = %s, %v; want %s", got, err, c.want)
			}
			if k := strings.Join(l.Keys(), ","); k != c.keys {
				t.Errorf("Keys = %s, want %s", k, c.keys)
			}
		})
	}
	l := &Lazy[string]{Data: []byte(rec)}
	if _, ok, raw := l.Lookup("c.d"); ok || raw.Raw != `{"e":2}` {
		t.Errorf("Lookup(c.d) = %v, %q", ok, raw.Raw)
	}
	l.Cache("c.d", "cached")
	if v, ok, _ := l.Lookup("c.d"); !ok || v != "cached" || !l.Has("c.d") {
		t.Errorf("Lookup after Cache = %q, %v", v, ok)
	}
	l.Delete("c.d")
	if _, ok, raw := l.Lookup("c.d"); ok || raw.Exists() || l.Has("c.d") {
		t.Error("a deleted field is still there")
	}
}

// TestLazyOnePass checks Encode's one pass over the record against the
// sjson edits it replaced (encodeEdits), on records with and without
// blanks and duplicate names, under random edits.
func TestLazyOnePass(t *testing.T) {
	records := []string{
		`{}`, `{ }`, `{"a":1}`, `{"a":1,"b":"x","c":[1,{"d":"}"}],"e":{"f":null}}`,
		`{"a": 1, "b": "x", "c": [1, 2], "e": {"f": true}}`,
		`{ "a" : 1 , "b" : "x\"y" ,"c":[ ] , "e":{}}`,
		`{"a":1,"a":2,"b":3}`, `{"t":"a\\","u":-1.5e3,"v":false}`,
		"{\"a\":1,\n\t\"b\":2\r\n}",
	}
	keys := []string{"a", "b", "c", "e", "t", "u", "z", "new"}
	rng := rand.New(rand.NewPCG(1, 2))
	fallbacks := 0
	for n := 0; n < 20000; n++ {
		rec := records[rng.IntN(len(records))]
		mk := func() *Lazy[string] { return &Lazy[string]{Data: []byte(rec)} }
		a, b := mk(), mk()
		if n%2 == 0 { // a reads the fields through the index (Fields)
			indexed(a)
		}
		var ops []string
		for range rng.IntN(5) + 1 {
			k := keys[rng.IntN(len(keys))]
			switch rng.IntN(4) {
			case 0:
				a.Delete(k)
				b.Delete(k)
				ops = append(ops, "del "+k)
			case 1:
				a.Set(k, "undefined")
				b.Set(k, "undefined")
				ops = append(ops, "undef "+k)
			case 2:
				if _, ok, raw := a.Lookup(k); !ok && raw.Exists() {
					a.Cache(k, raw.String())
					b.Cache(k, raw.String())
					ops = append(ops, "cache "+k)
				}
			default:
				v := fmt.Sprint("v", n)
				a.Set(k, v)
				b.Set(k, v)
				ops = append(ops, "set "+k)
			}
		}
		for _, k := range keys { // Has through the index as through gjson
			if a.Has(k) != b.Has(k) {
				t.Fatalf("%s %v: Has(%q) = %v, through gjson %v", rec, ops, k, a.Has(k), b.Has(k))
			}
		}
		got, ok, err := a.encodeOnePass(enc{}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			fallbacks++
			continue // Encode uses encodeEdits
		}
		want, err := b.encodeEdits(enc{})
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s %v:\n one pass %s\n sjson    %s", rec, ops, got, want)
		}
	}
	if fallbacks > 2000 {
		t.Errorf("%d of 20000 edits fell back to sjson; want only those that delete every field", fallbacks)
	}
}

// appender is enc as a FieldAppender.
type appender struct{ enc }

func (appender) AppendField(b []byte, k string, v string) ([]byte, bool, error) {
	raw, del, err := enc{}.EncodeField(k, v)
	if err != nil || del {
		return b, del, err
	}
	return append(b, raw...), false, nil
}

// TestLazyTemplate encodes records again and again between random edits
// (most of them writes of new values to fields already written, which
// keep the template), and checks every result against the sjson edits on
// a twin that is encoded only then.
func TestLazyTemplate(t *testing.T) {
	records := []string{
		`{}`, `{"a":1}`, `{"a":1,"b":"x","c":[1,{"d":"}"}],"e":{"f":null}}`,
		`{ "a" : 1 , "b" : "x\"y" ,"c":[ ] , "e":{}}`, `{"a":1,"a":2,"b":3}`,
		`{"ts":"t","level":"info","msg":"m","tags":["prod","eu"]}`,
	}
	keys := []string{"a", "b", "c", "e", "z", "tag", "tags"}
	rng := rand.New(rand.NewPCG(3, 4))
	var reused Lazy[string]
	var buf []byte
	var outs, copies [][]byte // every encode's result stays as it was made
	defer func() {
		for i := range outs {
			if string(outs[i]) != string(copies[i]) {
				t.Fatalf("an encoded record changed afterwards: %s, was %s", outs[i], copies[i])
			}
		}
	}()
	for n := 0; n < 3000; n++ {
		rec := records[rng.IntN(len(records))]
		a := &Lazy[string]{Data: []byte(rec)}
		if n%4 >= 2 {
			// One view, record after record, its field values on the
			// record's bytes (Shared): a Lua body that keeps nothing.
			reused.Reset([]byte(rec), nil)
			reused.Shared = true
			a = &reused
		}
		if n%3 == 0 {
			indexed(a)
		}
		var ops []string
		var e Encoder[string] = enc{}
		if n%2 == 1 {
			e = appender{}
		}
		for step := range 30 {
			k := keys[rng.IntN(len(keys))]
			switch r := rng.IntN(20); {
			case r == 0:
				a.Delete(k)
				ops = append(ops, "del "+k)
			case r == 1:
				a.Set(k, "undefined")
				ops = append(ops, "undef "+k)
			case r == 2:
				if _, ok, raw := a.Lookup(k); !ok && raw.Exists() {
					a.Cache(k, raw.String())
					ops = append(ops, "cache "+k)
				}
			case r < 10:
				v := fmt.Sprint("v", n, "-", step)
				a.Set(k, v)
				ops = append(ops, "set "+k)
			default:
				encode := a.Encode
				to := false // into buf, which the next encode reuses
				switch rng.IntN(3) {
				case 0:
					encode = a.EncodeAgain
				case 1:
					encode = func(e Encoder[string]) ([]byte, error) { return a.EncodeAgainTo(buf, e) }
					to = true
				}
				got, err := encode(e)
				if err != nil {
					t.Fatal(err)
				}
				b := &Lazy[string]{Data: []byte(rec)}
				replay(b, a)
				want, err := b.encodeEdits(enc{})
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(want) {
					t.Fatalf("%s %v:\n encoded %s\n sjson   %s", rec, ops, got, want)
				}
				switch {
				case to:
					if len(got) == 0 || &got[0] != &a.Data[0] { // not Data (no edits)
						buf = got
					}
				case len(got) > 0 && &got[0] != &a.Data[0]:
					outs, copies = append(outs, got), append(copies, bytes.Clone(got))
				}
				ops = append(ops, "encode")
			}
		}
	}
}

// indexed gives l an index of its record (Fields), if the record has no
// repeated key.
func indexed(l *Lazy[string]) {
	f := new(Fields)
	if f.Check(l.Data) == nil {
		l.Fields = f
	}
}

// replay makes b's edits a's (the same fields, kinds, values and order of
// first writes).
func replay(b, a *Lazy[string]) {
	b.edits = append(b.edits[:0], a.edits...)
	b.seq = a.seq
}

// BenchmarkLazyEncode is W3's edit of a record (tags deleted, tag set),
// applied in one pass and with the sjson edits it replaced.
func BenchmarkLazyEncode(b *testing.B) {
	const rec = `{"ts":"2026-01-01T00:00:00.123456Z","level":"info","service":"api","method":"GET","path":"/v1/users","status":200,"latency_ms":12.345,"user":"u123","msg":"request completed","tags":["prod","eu"]}`
	for _, m := range []struct {
		name string
		enc  func(l *Lazy[string]) ([]byte, error)
	}{
		{"one-pass", func(l *Lazy[string]) ([]byte, error) { return l.Encode(enc{}) }},
		{"sjson", func(l *Lazy[string]) ([]byte, error) { return l.encodeEdits(enc{}) }},
	} {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				l := &Lazy[string]{Data: []byte(rec)}
				l.Delete("tags")
				l.Set("tag", "prod")
				if _, err := m.enc(l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	// W3 proper: one encode per tag (the second and later by template).
	for _, tags := range []int{2, 4} {
		b.Run(fmt.Sprint("per-tag-", tags), func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				l := &Lazy[string]{Data: []byte(rec)}
				l.Delete("tags")
				for i := range tags {
					l.Set("tag", fmt.Sprint("t", i))
					if _, err := l.EncodeAgain(appender{}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
