package engine

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
)

// vouch is a stage that emits what its function makes and declares the
// guarantee g: with a lying function, what reaches the output shows
// whether the output trusted the batch or checked it.
type vouch struct {
	g  JSONGuarantee
	fn func(*Record)
}

func (v *vouch) Transform(_ context.Context, r *Record, emit func(*Record)) error {
	if v.fn != nil {
		v.fn(r)
	}
	emit(r)
	return nil
}

func (v *vouch) JSONOutput() JSONGuarantee { return v.g }

func breakJSON(r *Record) { r.Data = append(r.Data[:len(r.Data):len(r.Data)], '}') }

// The ndjson output checks a record unless every stage since a point
// where the records were known to be JSON vouched for them (JSONOutput):
// a lying stage shows when the check was skipped; everything else is
// checked as before, so invalid JSON never reaches the output through a
// stage that did not vouch.
func TestJSONOutputTrust(t *testing.T) {
	liar := func(g JSONGuarantee) StageSpec {
		return goStageSpec(fmt.Sprintf("liar%d", g), 1, func() Transformer { return &vouch{g: g, fn: breakJSON} })
	}
	n := 0
	keep := func(g JSONGuarantee) StageSpec {
		n++
		return goStageSpec(fmt.Sprintf("keep%d", n), 1, func() Transformer { return &vouch{g: g} })
	}
	breaker := goStageSpec("breaker", 1, func() Transformer {
		return TransformerFunc(func(_ context.Context, r *Record, emit func(*Record)) error {
			breakJSON(r)
			emit(r)
			return nil
		})
	})
	cases := []struct {
		name    string
		inCodec string
		stages  []StageSpec
		want    string // "": the broken records were checked and dropped
	}{
		{"preserved after ndjson input: trusted", "ndjson", []StageSpec{liar(JSONPreserved)}, "{\"a\":1}}\n{\"b\":2}}\n"},
		{"always after lines input: trusted", "lines", []StageSpec{liar(JSONAlways)}, "{\"a\":1}}\n{\"b\":2}}\n"},
		{"preserved after lines input: checked", "lines", []StageSpec{liar(JSONPreserved)}, ""},
		{"unchecked: checked", "ndjson", []StageSpec{liar(JSONUnchecked)}, ""},
		{"no guarantee upstream of a preserving stage: checked", "ndjson", []StageSpec{breaker, keep(JSONPreserved)}, ""},
		{"a chain of preserving stages: trusted", "ndjson", []StageSpec{keep(JSONPreserved), liar(JSONPreserved), keep(JSONPreserved)}, "{\"a\":1}}\n{\"b\":2}}\n"},
		{"always after an unchecked stage: trusted", "ndjson", []StageSpec{breaker, liar(JSONAlways)}, "{\"a\":1}}}\n{\"b\":2}}}\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := Build(&Spec{Input: InputSpec{Codec: c.inCodec}, Output: OutputSpec{Codec: "ndjson"},
				Defaults: Defaults{OnError: OnErrorDrop}, Stages: c.stages})
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := p.RunReader(context.Background(), strings.NewReader("{\"a\":1}\n{\"b\":2}\n"), &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != c.want {
				t.Errorf("output %q, want %q", out.String(), c.want)
			}
		})
	}
}

// A flush of a preserving stage is trusted only if all its input was.
func TestJSONOutputFlush(t *testing.T) {
	for _, in := range []struct {
		codec   string
		trusted bool
	}{{"ndjson", true}, {"lines", false}} {
		p, err := Build(&Spec{Input: InputSpec{Codec: in.codec}, Output: OutputSpec{Codec: "ndjson"},
			Defaults: Defaults{OnError: OnErrorDrop},
			Stages:   []StageSpec{goStageSpec("f", 1, func() Transformer { return &flushVouch{} })}})
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := p.RunReader(context.Background(), strings.NewReader("{\"a\":1}\n"), &out); err != nil {
			t.Fatal(err)
		}
		want := "{\"a\":1}\n"
		if in.trusted {
			want += "not json\n"
		}
		if out.String() != want {
			t.Errorf("%s input: output %q, want %q", in.codec, out.String(), want)
		}
	}
}

type flushVouch struct{}

func (flushVouch) Transform(_ context.Context, r *Record, emit func(*Record)) error {
	emit(r)
	return nil
}

func (flushVouch) Flush(_ context.Context, emit func(*Record)) error {
	emit(NewRecord([]byte("not json")))
	return nil
}

func (flushVouch) JSONOutput() JSONGuarantee { return JSONPreserved }

// BenchmarkNDJSONOutputTrust runs ndjson records through a stage that
// passes them on, to an ndjson output: "checked" (the stage vouches for
// nothing: the output checks every record) against "trusted"
// (JSONPreserved: the output writes the batches as they are).
func BenchmarkNDJSONOutputTrust(b *testing.B) {
	rec := `{"ts":"2026-01-01T00:00:00.000454Z","level":"error","service":"worker","method":"GET","path":"/health","status":503,"latency_ms":130.999,"user":"u36701","msg":"token slow connection slow","tags":["prod","prod"]}` + "\n"
	in := strings.Repeat(rec, 10000)
	for _, c := range []struct {
		name string
		g    JSONGuarantee
	}{{"checked", JSONUnchecked}, {"trusted", JSONPreserved}} {
		b.Run(c.name, func(b *testing.B) {
			p, err := Build(&Spec{Input: InputSpec{Codec: "ndjson"}, Output: OutputSpec{Codec: "ndjson"},
				Stages: []StageSpec{goStageSpec("pass", 1, func() Transformer { return &vouch{g: c.g} })}})
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if err := p.RunReader(context.Background(), strings.NewReader(in), io.Discard); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
