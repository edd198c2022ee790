package lua

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/gendata"
	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
	"github.com/yuin/gopher-lua/parse"
)

// The fast path of bodies that keep nothing (records read in place, one
// lazy table, boxes, taken string bytes) gives what the general path
// (copies) gives, record for record: outputs, metadata, errors, on the
// benchmark's records and hostile ones, a batch at a time in one buffer
// that is overwritten after each batch, as the engine does.
func TestKeepsNothingSameAsCopies(t *testing.T) {
	var gen bytes.Buffer
	if err := gendata.Write(&gen, 300, 7); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(gen.String(), "\n"), "\n")
	lines = append(lines, `{}`, `{"tags":[]}`, `{"msg":"a\"b\\c\u00e9","tags":["x",1,null,{"y":[2]}],"level":"error"}`,
		`{"a":1,"a":2}`, `[1,2]`, `"str"`, `{"tags":"notalist"}`, `{ "msg" : "x" , "tags" : [ "p" , "q" ] }`,
		// Long records: strings that outgrow a VM's scratch in one call.
		`{"msg":"`+strings.Repeat("Ab c\u00e9 ", 400)+`","tags":["x"]}`, `{"msg":"`+strings.Repeat("xY", 40000)+`"}`,
		// Arrays in arrays, and an array too large for the pool to keep.
		`{"a":[1,[2,[3]]],"tags":[[],["q"],"r"]}`, `{"tags":[`+strings.Repeat(`"t",`, 2000)+`"u"]}`, `{"tags":["v"]}`)
	var runBatches func(size int) []string
	for _, c := range []struct {
		code string
		json bool
	}{
		{`if rec.level ~= "error" then return nil end rec.msg = string.upper(rec.msg) rec.processed = true return rec`, true},
		{"local tags = rec.tags rec.tags = nil for _, t in ipairs(tags) do rec.tag = t emit(rec) end", true},
		{`local u = string.upper(rec.msg or "") emit(u) emit({m = string.lower(u), n = #u}) meta.k = u return rec`, true},
		{`rec.x = {rec.user, string.upper(rec.service or "")} emit(rec) rec.x = nil return rec`, true},
		{`return string.upper(rec)`, false},
		{`local a, b = string.upper(rec), string.lower(rec) emit(a) emit(a:sub(1, 9)) meta.k = b:sub(3, 7) return b`, false},
		{`if #rec % 3 == 0 then error(rec:sub(1, 20), 0) end return rec`, false},
		{`local t = pipe.split(rec, " ") return t[2] .. "|" .. (pipe.match(rec, "(u[0-9]+)") or {"-"})[1]`, false},
		// Results of the record's length take its bytes (see vm.bytesOf).
		{`meta.k = rec:sub(2, 9) return string.lower(rec)`, false},
		{`local u = string.upper(rec) meta.k = u:sub(1, 5) emit(string.lower(u)) return (rec:gsub("[aeiou]", "-"))`, false},
		{`local a, b = string.upper(rec), string.lower(rec) local c = string.upper(b) emit(b) return c:sub(2) .. a:sub(1, 1)`, false},
		{`local u = string.upper(rec) if #u % 2 == 0 then return u end return rec`, false},
		{`return string.upper(string.lower(string.upper(rec)))`, false},
		{`return string.upper(rec:sub(1, #rec - 1))`, false},
		{`rec.msg = string.upper(rec.msg or "") return string.lower(pipe.json.encode(rec))`, true},
		// The tables of decoded arrays, which the fast path reuses from
		// one record to the next (see tablePool), changed in place.
		{`local t = rec.tags if type(t) ~= "table" then return nil end rec.k0 = t.k if #t > 1 then t.k = #t end table.insert(t, "z") t[#t + 2] = "w" rec.n = #t return rec`, true},
		{`local t = rec.tags if type(t) ~= "table" then return nil end table.sort(t) if #t > 0 then t[#t] = nil end emit(t) return rec`, true},
		{`local n = 0 for _, x in ipairs(type(rec.tags) == "table" and rec.tags or {}) do if type(x) == "table" then n = n + #x x[1] = n else n = n + 1 end end rec.n = n rec.a2 = rec.a return rec`, true},
	} {
		// Batches of 64 records, and of one (each record then at the
		// buffer's start: the address of the last record's).
		run := func() []string {
			return append(runBatches(64), runBatches(1)...)
		}
		runBatches = func(size int) []string {
			tr := scripttest.NewInstance(t, "lua", c.json, c.code)
			bt := tr.(engine.BatchTransformer)
			buf := make([]byte, 0, 1<<16)
			var out []*engine.Record
			var errs []string
			for start := 0; start < len(lines); start += size {
				buf = buf[:0]
				var recs []*engine.Record
				for _, l := range lines[start:min(start+size, len(lines))] {
					buf = append(buf, l...)
					r := engine.NewRecord(buf[len(buf)-len(l) : len(buf) : len(buf)])
					r.Set("in", "m")
					recs = append(recs, r)
					buf = append(buf, '\n')
				}
				var res engine.BatchResult
				res.Reset(len(recs))
				if err := bt.TransformBatch(context.Background(), recs, &res); err != nil {
					t.Fatal(err)
				}
				out = append(out, res.Records()...)
				for i := range res.NumFailed() {
					n, err := res.Failed(i)
					errs = append(errs, fmt.Sprint(start+n, err))
				}
				// The engine writes the batch, then reuses its buffer.
				for _, r := range res.Records() {
					r.Data = bytes.Clone(r.Data)
				}
				for i := range buf {
					buf[i] = '#'
				}
			}
			var s []string
			for _, r := range out {
				s = append(s, fmt.Sprintf("%s %v", r.Data, r.Meta))
			}
			return append(s, errs...)
		}
		if !keepsNothingCode(t, c.code) {
			t.Fatalf("%s: not a body that keeps nothing", c.code)
		}
		fast := run()
		alwaysCopy = true
		general := run()
		alwaysCopy = false
		if strings.Join(fast, "\n") != strings.Join(general, "\n") {
			t.Errorf("%s: the fast path differs", c.code)
			for i := range min(len(fast), len(general)) {
				if fast[i] != general[i] {
					t.Fatalf("first difference at %d:\n fast    %s\n general %s", i, fast[i], general[i])
				}
			}
			t.Fatalf("%d results, general %d", len(fast), len(general))
		}
		if len(fast) == 0 {
			t.Errorf("%s: no results", c.code)
		}
	}
}

func keepsNothingCode(t *testing.T, code string) bool {
	chunk, err := parse.Parse(strings.NewReader(code), "t")
	if err != nil {
		t.Fatal(err)
	}
	return keepsNothing(chunk)
}
