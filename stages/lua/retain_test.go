package lua_test

import (
	"context"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

// runInBuffer feeds the records through one instance, each in the same
// buffer (as the engine reuses a batch's buffer once it is written), and
// returns what came out (as the output wrote it, before the buffer was
// reused; the metadata read once all ran) and the records' errors.
func runInBuffer(t *testing.T, json bool, code string, recs ...string) (out []string, errs []string) {
	t.Helper()
	tr := scripttest.NewInstance(t, "lua", json, code)
	buf := make([]byte, 0, 256)
	var got []*engine.Record
	var data []string
	var errv []error
	for _, s := range recs {
		buf = append(buf[:0], s...)
		r := engine.NewRecord(buf)
		if err := tr.Transform(context.Background(), r, func(r *engine.Record) { got = append(got, r) }); err != nil {
			errv = append(errv, err)
		}
		for _, g := range got[len(data):] { // the output writes the batch
			data = append(data, string(g.Data))
		}
		for i := range buf { // the engine reads the next batch there
			buf[i] = 'X'
		}
	}
	for i, g := range got {
		out = append(out, data[i]+" "+g.Get("k"))
	}
	for _, err := range errv {
		errs = append(errs, err.Error())
	}
	return out, errs
}

// A script that keeps its record past the call reads the record as it was,
// after the engine reused the record's buffer.
func TestKeptRecordOutlivesItsBuffer(t *testing.T) {
	out, _ := runInBuffer(t, true, `if first == nil then first = rec end return {m = first.msg}`,
		`{"msg":"one"}`, `{"msg":"two"}`, `{"msg":"three"}`)
	for i, o := range out {
		if o != `{"m":"one"} ` {
			t.Errorf("record %d: %s, want {\"m\":\"one\"}", i, o)
		}
	}
	out, _ = runInBuffer(t, false, `if first == nil then first = rec end return first`, "one", "two")
	if len(out) != 2 || out[0] != "one " || out[1] != "one " {
		t.Errorf("lines: %q, want one, one", out)
	}
}

// A body that keeps nothing gets its record's bytes without a copy; what
// leaves the call (records, their metadata, errors) is its own all the same.
func TestKeepsNothingOutputsOwnBytes(t *testing.T) {
	for _, c := range []struct {
		name, code string
		json       bool
		in         []string
		want, errs []string
	}{
		{"upper emitted and returned", `local u = string.upper(rec) emit(u) emit(rec) return u`, false,
			[]string{"ab", "cd"}, []string{"AB ", "ab ", "AB ", "CD ", "cd ", "CD "}, nil},
		{"strings of one call", `local a = string.upper(rec) local b = string.lower(rec) return a .. "|" .. b .. "|" .. rec`, false,
			[]string{"Ab", "cD"}, []string{"AB|ab|Ab ", "CD|cd|cD "}, nil},
		{"metadata", `meta.k = rec return string.lower(rec)`, false, []string{"Ab"}, []string{"ab Ab"}, nil},
		{"error", `error(rec, 0)`, false, []string{"bad"}, nil, []string{"bad"}},
		{"regexp", `return pipe.match("xay", rec)[1]`, false, []string{"a", "a"}, []string{"a ", "a "}, nil},
		{"lazy tables, one for each record", "local tags = rec.tags rec.tags = nil for _, t in ipairs(tags) do rec.tag = t emit(rec) end", true,
			[]string{`{"a":1,"tags":["x","y"]}`, `{"tags":["z"],"b":22}`, `{"a":3,"tags":[]}`},
			[]string{`{"a":1,"tag":"x"} `, `{"a":1,"tag":"y"} `, `{"b":22,"tag":"z"} `}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errs := runInBuffer(t, c.json, c.code, c.in...)
			if len(out) != len(c.want) || len(errs) != len(c.errs) {
				t.Fatalf("got %q, errors %q; want %q, errors %q", out, errs, c.want, c.errs)
			}
			for i := range c.want {
				if out[i] != c.want[i] {
					t.Errorf("record %d: %q, want %q", i, out[i], c.want[i])
				}
			}
			for i := range c.errs {
				if errs[i] != c.errs[i] {
					t.Errorf("error %d: %q, want %q", i, errs[i], c.errs[i])
				}
			}
		})
	}
}

// Records that take a string's bytes without a copy share none: changing
// one (a later stage may, in place) leaves the others as they were.
func TestKeepsNothingRecordsShareNoBytes(t *testing.T) {
	tr := scripttest.NewInstance(t, "lua", false, `local u = string.upper(rec) emit(u) emit(u) emit(rec) return u`)
	var got []*engine.Record
	if err := tr.Transform(context.Background(), engine.NewRecord([]byte("ab")), func(r *engine.Record) { got = append(got, r) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 {
		t.Fatalf("%d records, want 4", len(got))
	}
	for i, r := range got {
		r.Data[0] = byte('0' + i)
	}
	want := []string{"0B", "1B", "2b", "3B"}
	for i, r := range got {
		if string(r.Data) != want[i] {
			t.Errorf("record %d: %s, want %s (records share bytes)", i, r.Data, want[i])
		}
	}
}

// A record returned unchanged keeps its own bytes (no copy); one emitted
// gets a copy.
func TestUnchangedRecordKeepsItsBytes(t *testing.T) {
	for _, c := range []struct {
		code, in string
		json     bool
	}{
		{`emit(rec) return rec`, "ab", false},
		{`emit(rec) return rec`, `{"a":1}`, true},
		{`if first == nil then first = rec end emit(rec) return rec`, `{"a":1}`, true}, // keeps rec: reads a copy
	} {
		tr := scripttest.NewInstance(t, "lua", c.json, c.code)
		in := []byte(c.in)
		var got []*engine.Record
		if err := tr.Transform(context.Background(), engine.NewRecord(in), func(r *engine.Record) { got = append(got, r) }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || string(got[0].Data) != c.in || string(got[1].Data) != c.in {
			t.Fatalf("%s: got %d records, want 2 of %s", c.code, len(got), c.in)
		}
		if &got[0].Data[0] == &in[0] {
			t.Errorf("%s: the emitted record shares the input's bytes", c.code)
		}
		if &got[1].Data[0] != &in[0] {
			t.Errorf("%s: the returned record is a copy", c.code)
		}
	}
}

// Indexing a string reaches the string functions, not the string table
// (which a body that keeps nothing could otherwise store into); string
// methods and getmetatable("").__index work as in Lua 5.1.
func TestStringMetatable(t *testing.T) {
	out, errs := runInBuffer(t, false, `
local k = "__index"
assert(("x")[k] == nil and ("x").__index == nil, "a string's __index is reachable")
assert(("x").upper == string.upper and rec:upper() == "AB", "string methods")
assert(getmetatable("").__index == string, "getmetatable")
return rec`, "ab")
	if len(errs) > 0 || len(out) != 1 || out[0] != "ab " {
		t.Fatalf("got %q, errors %q", out, errs)
	}
}
