package native_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	_ "github.com/pipe-dev/pipe/stages/native"
)

// parseCase is one parsing stage under the engine's contract: gen(i)
// makes the i-th good input and the output it must give; bad fails.
type parseCase struct {
	use    string
	config map[string]any
	codec  string
	gen    func(i int) (in, out string)
	bad    string
}

var parseCases = []parseCase{
	{use: "parse_regex", config: map[string]any{"pattern": `^(?P<n>\d+) (?P<w>\w+)$`, "types": map[string]any{"n": "int"}},
		gen: func(i int) (string, string) {
			return fmt.Sprintf("%d w%d", i, i), fmt.Sprintf(`{"n":%d,"w":"w%d"}`, i, i)
		}, bad: "bad record"},
	{use: "parse_logfmt", gen: func(i int) (string, string) {
		return fmt.Sprintf(`i=%d msg="m %d"`, i, i), fmt.Sprintf(`{"i":"%d","msg":"m %d"}`, i, i)
	}, bad: `msg="bad record`},
	{use: "parse_kv", config: map[string]any{"field_split": ",", "value_split": ":"}, gen: func(i int) (string, string) {
		return fmt.Sprintf(`i:%d,j:x`, i), fmt.Sprintf(`{"i":"%d","j":"x"}`, i)
	}, bad: `:bad record`},
	{use: "parse_csv", config: map[string]any{"columns": []any{"a", "b"}, "types": map[string]any{"a": "int"}}, gen: func(i int) (string, string) {
		return fmt.Sprintf(`%d,"x,%d"`, i, i), fmt.Sprintf(`{"a":%d,"b":"x,%d"}`, i, i)
	}, bad: `1,"bad record`},
	{use: "parse_syslog", gen: func(i int) (string, string) {
		return fmt.Sprintf(`<%d>Oct 11 22:14:15 h app: m%d`, i%192, i),
			fmt.Sprintf(`{"priority":%d,"facility":%q,"severity":%q,"timestamp":"Oct 11 22:14:15","hostname":"h","appname":"app","message":"m%d"}`,
				i%192, facilities[i%192>>3], severities[i%8], i)
	}, bad: "<999>bad record"},
	{use: "parse_json", gen: func(i int) (string, string) {
		return fmt.Sprintf(`{"i":%d}`, i), fmt.Sprintf(`{"i":%d}`, i)
	}, bad: "bad record"},
	{use: "parse_time", config: map[string]any{"formats": []any{"unix"}}, gen: func(i int) (string, string) {
		return fmt.Sprint(i), fmt.Sprintf(`{"time":%q}`, time.Unix(int64(i), 0).UTC().Format(time.RFC3339))
	}, bad: "bad record"},
	{use: "grok", config: map[string]any{"patterns": []any{`^%{INT:n:int} %{WORD:w}$`}}, gen: func(i int) (string, string) {
		return fmt.Sprintf("%d w%d", i, i), fmt.Sprintf(`{"n":%d,"w":"w%d"}`, i, i)
	}, bad: "bad record"},
	{use: "parse_logfmt", codec: "ndjson", config: map[string]any{"field": "log", "target": "p"}, gen: func(i int) (string, string) {
		return fmt.Sprintf(`{"log":"i=%d"}`, i), fmt.Sprintf(`{"log":"i=%d","p":{"i":"%d"}}`, i, i)
	}, bad: `{"log":"\"bad record"}`},
}

var (
	facilities = []string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
		"authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
		"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}
	severities = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}
)

func (c parseCase) stage() engine.StageSpec {
	sp := engine.StageSpec{Name: "under-test", Type: "native", Use: c.use}
	if c.config != nil {
		sp.Config = engine.ConfigOf(c.config)
	}
	return sp
}

func (c parseCase) spec(sp engine.StageSpec) *engine.Spec {
	codec := c.codec
	if codec == "" {
		codec = "lines"
	}
	return &engine.Spec{Input: engine.InputSpec{Codec: codec}, Stages: []engine.StageSpec{sp}}
}

type parseRun struct {
	out   []*engine.Record
	err   error
	stats engine.StageStats
}

func runParse(t *testing.T, spec *engine.Spec, in []*engine.Record) parseRun {
	t.Helper()
	p, err := engine.Build(spec)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := p.Process(ctx, in...)
	r := parseRun{out: out, err: err}
	for _, st := range p.Stats() {
		if st.Name == "under-test" {
			r.stats = st
			if err == nil && st.In != st.Passed+st.Dropped+st.Errors {
				t.Errorf("accounting: in %d != passed %d + dropped %d + errors %d", st.In, st.Passed, st.Dropped, st.Errors)
			}
		}
	}
	return r
}

func recs(ss ...string) []*engine.Record {
	out := make([]*engine.Record, len(ss))
	for i, s := range ss {
		out[i] = engine.NewRecord([]byte(s))
	}
	return out
}

func datas(rs []*engine.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = string(r.Data)
	}
	return out
}

// TestParseStagesContract runs every parsing stage through the cases of
// the conformance suite that apply to a parser: output, a record that
// does not parse under each on_error policy, metadata, workers and order,
// max_record_bytes.
func TestParseStagesContract(t *testing.T) {
	for _, c := range parseCases {
		name := c.use
		if c.codec != "" {
			name += "_" + c.codec
		}
		t.Run(name, func(t *testing.T) {
			in1, out1 := c.gen(1)
			in2, out2 := c.gen(2)
			t.Run("emit", func(t *testing.T) {
				r := runParse(t, c.spec(c.stage()), recs(in1, in2))
				if r.err != nil {
					t.Fatal(r.err)
				}
				if got := datas(r.out); !reflect.DeepEqual(got, []string{out1, out2}) {
					t.Fatalf("out = %q, want %q", got, []string{out1, out2})
				}
			})
			t.Run("fail_policy_fail", func(t *testing.T) {
				sp := c.stage()
				sp.OnError = engine.OnErrorFail
				r := runParse(t, c.spec(sp), recs(in1, c.bad, in2))
				var se *engine.StageError
				if !errors.As(r.err, &se) || se.Stage != "under-test" || se.Record != 2 {
					t.Fatalf("err = %v, want a StageError of record 2", r.err)
				}
				for _, o := range r.out {
					if string(o.Data) == out2 {
						t.Error("a record after the failure was output")
					}
				}
			})
			t.Run("fail_policy_drop", func(t *testing.T) {
				sp := c.stage()
				sp.OnError = engine.OnErrorDrop
				r := runParse(t, c.spec(sp), recs(in1, c.bad, in2, c.bad))
				if r.err != nil {
					t.Fatal(r.err)
				}
				if got := datas(r.out); !reflect.DeepEqual(got, []string{out1, out2}) {
					t.Fatalf("out = %q", got)
				}
				if r.stats.Errors != 2 || r.stats.Dropped != 0 {
					t.Errorf("stats = %+v, want 2 errors", r.stats)
				}
			})
			t.Run("fail_policy_dead_letter", func(t *testing.T) {
				sp := c.stage()
				sp.OnError = engine.OnErrorDeadLetter
				spec := c.spec(sp)
				dl := filepath.Join(t.TempDir(), "dl.ndjson")
				spec.DeadLetter = &engine.DeadLetterSpec{Path: dl}
				r := runParse(t, spec, recs(in1, c.bad, in2))
				if r.err != nil {
					t.Fatal(r.err)
				}
				b, err := os.ReadFile(dl)
				if err != nil {
					t.Fatal(err)
				}
				var line struct {
					Stage, Record, Error string
					RecordNumber         int64 `json:"record_number"`
				}
				if err := json.Unmarshal(b, &line); err != nil {
					t.Fatalf("dead letter %q: %v", b, err)
				}
				if line.Stage != "under-test" || line.Record != c.bad || line.RecordNumber != 2 || line.Error == "" {
					t.Errorf("dead letter = %s", b)
				}
				if r.stats.DeadLettered != 1 || len(r.out) != 2 {
					t.Errorf("stats = %+v, %d out", r.stats, len(r.out))
				}
			})
			t.Run("metadata", func(t *testing.T) {
				rec := engine.NewRecord([]byte(in1))
				rec.Set("src", "s1")
				r := runParse(t, c.spec(c.stage()), []*engine.Record{rec})
				if r.err != nil || len(r.out) != 1 || r.out[0].Get("src") != "s1" {
					t.Fatalf("err %v, out %v: want the metadata kept", r.err, r.out)
				}
			})
			t.Run("workers_order", func(t *testing.T) {
				sp := c.stage()
				sp.Workers = 4
				var in, want []string
				for i := range 5000 {
					a, b := c.gen(i)
					in, want = append(in, a), append(want, b)
				}
				r := runParse(t, c.spec(sp), recs(in...))
				if r.err != nil {
					t.Fatal(r.err)
				}
				if got := datas(r.out); !reflect.DeepEqual(got, want) {
					t.Fatalf("%d records out of 5000; order or content differs", len(got))
				}
			})
			t.Run("max_record_bytes", func(t *testing.T) {
				sp := c.stage()
				sp.MaxRecordBytes = engine.ByteSize(len(in1) + 1)
				sp.OnError = engine.OnErrorDrop
				r := runParse(t, c.spec(sp), recs(in1, in1+strings.Repeat(" ", 100)))
				if r.err != nil || len(r.out) != 1 || r.stats.Errors != 1 {
					t.Fatalf("err %v, %d out, stats %+v", r.err, len(r.out), r.stats)
				}
			})
		})
	}
}

// TestParseNeverPanics feeds every parser random and mutated lines: each
// record either fails or becomes valid JSON.
func TestParseNeverPanics(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte(`ab=" ,:;<>[]{}\%1234567890-.TZ` + "\t\xff\xc3é")
	for _, c := range parseCases {
		n, ok := engine.DefaultRegistry.LookupNative(c.use)
		if !ok {
			t.Fatalf("%s is not registered", c.use)
		}
		cfg := engine.ConfigOf(c.config)
		tr, err := n.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		seeds := []string{c.bad}
		for i := range 5 {
			in, _ := c.gen(i)
			seeds = append(seeds, in)
		}
		for i := range 3000 {
			b := []byte(seeds[i%len(seeds)])
			for range 1 + rng.IntN(4) {
				switch k := rng.IntN(3); {
				case k == 0 && len(b) > 0:
					b[rng.IntN(len(b))] = alphabet[rng.IntN(len(alphabet))]
				case k == 1 && len(b) > 0:
					b = b[:rng.IntN(len(b))]
				default:
					b = append(b, alphabet[rng.IntN(len(alphabet))])
				}
			}
			in := string(b)
			var outs []*engine.Record
			err := tr.Transform(context.Background(), engine.NewRecord(b), func(r *engine.Record) { outs = append(outs, r) })
			if err == nil && len(outs) != 1 {
				t.Fatalf("%s: %q: %d records out without an error", c.use, in, len(outs))
			}
			for _, o := range outs {
				if !json.Valid(o.Data) {
					t.Fatalf("%s: %q gave invalid JSON %q", c.use, in, o.Data)
				}
			}
		}
	}
}

// TestParseConfigErrors checks that bad configurations are positioned
// config errors naming the problem.
func TestParseConfigErrors(t *testing.T) {
	cases := []struct{ stage, want string }{
		{`{name: s, type: native, use: parse_regex, config: {pattern: '(\w+'}}`, "invalid regexp"},
		{`{name: s, type: native, use: parse_regex, config: {pattern: '\w+'}}`, "no named group"},
		{`{name: s, type: native, use: parse_regex, config: {pattern: '(?P<a>\w+)', types: {b: int}}}`, `"b" is not one the stage produces`},
		{`{name: s, type: native, use: parse_regex, config: {pattern: '(?P<a>\w+)', types: {a: integer}}}`, "type must be int, float, bool or string"},
		{`{name: s, type: native, use: parse_logfmt, config: {remove_field: true}}`, "remove_field: needs field:"},
		{`{name: s, type: native, use: parse_logfmt, config: {field: msg, original: line}}`, "original: keeps the input line"},
		{`{name: s, type: native, use: parse_kv, config: {field_split: ',', value_split: ','}}`, "must differ"},
		{`{name: s, type: native, use: parse_kv, config: {standalone: maybe}}`, "standalone must be"},
		{`{name: s, type: native, use: parse_csv, config: {delimiter: ';;', header: true}}`, "delimiter must be one ASCII character"},
		{`{name: s, type: native, use: parse_csv, config: {}}`, "needs columns: or header: true"},
		{`{name: s, type: native, use: parse_csv, config: {columns: [a, a]}}`, "unique"},
		{`{name: s, type: native, use: parse_syslog, config: {format: rfc1234}}`, "format must be"},
		{`{name: s, type: native, use: parse_time, config: {formats: [iso]}}`, "want rfc3339, unix"},
		{`{name: s, type: native, use: parse_time, config: {formats: ['%Y-%Q']}}`, "unknown directive %Q"},
		{`{name: s, type: native, use: parse_time, config: {timezone: Mars/Olympus}}`, "timezone"},
		{`{name: s, type: native, use: grok, config: {patterns: ['%{NOPE:x}']}}`, "unknown pattern %{NOPE}"},
		{`{name: s, type: native, use: grok, config: {patterns: ['%{A:x}'], definitions: {A: '%{B}', B: '%{A}'}}}`, "refers to itself"},
		{`{name: s, type: native, use: grok, config: {patterns: ['%{INT:x:number}']}}`, "type must be"},
		{`{name: s, type: native, use: grok, config: {patterns: ['%{INT}']}}`, "no field is captured"},
		{`{name: s, type: native, use: grok, config: {patterns: ['%{INT:a} %{INT:a.b}']}}`, "is a value in one capture and an object"},
		{`{name: s, type: native, use: grok}`, `missing required field "patterns"`},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			src := "stages:\n  - " + c.stage + "\n"
			spec, err := engine.Parse([]byte(src), "p.yaml")
			if err == nil {
				_, err = engine.Build(spec)
			}
			var ce *engine.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *engine.ConfigError", err)
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "p.yaml:2:") {
				t.Fatalf("err = %v, want p.yaml:2:COL: ... %s", err, c.want)
			}
		})
	}
}

// With header: true and no columns, an instance that did not see the
// input's first record never takes a data row for the header: with
// workers: 2 the second worker's records fail, and no record is output
// with wrong keys.
func TestParseCSVHeaderWorkers(t *testing.T) {
	sp := engine.StageSpec{Name: "under-test", Type: "native", Use: "parse_csv", Workers: 2, OnError: engine.OnErrorDrop,
		Config: engine.ConfigOf(map[string]any{"header": true})}
	in := []string{"a,b"}
	for i := range 5000 {
		in = append(in, fmt.Sprintf("%d,x%d", i, i))
	}
	r := runParse(t, &engine.Spec{Stages: []engine.StageSpec{sp}}, recs(in...))
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, o := range r.out {
		var m map[string]string
		if err := json.Unmarshal(o.Data, &m); err != nil || len(m) != 2 || m["a"] == "" || m["b"] == "" {
			t.Fatalf("output %s: not keyed by the header", o.Data)
		}
	}
	if r.stats.Errors == 0 || int(r.stats.Errors)+len(r.out)+1 != len(in) {
		t.Errorf("stats %+v, %d out of %d: want the second worker's records as errors", r.stats, len(r.out), len(in))
	}
	// With workers: 1 every row parses.
	sp.Workers = 1
	r = runParse(t, &engine.Spec{Stages: []engine.StageSpec{sp}}, recs(in...))
	if r.err != nil || len(r.out) != 5000 || r.stats.Dropped != 1 {
		t.Fatalf("workers 1: err %v, %d out, stats %+v", r.err, len(r.out), r.stats)
	}
}
