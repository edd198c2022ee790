package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
)

// TestCase is one case of a pipeline file's tests: section, run by
// `pipe test`:
//
//	tests:
//	  - name: keeps errors, shouting
//	    input:                             # records: text, json: or data:, with meta:
//	      - '{"level":"error","msg":"disk full"}'
//	      - json: {level: info, msg: fine}
//	      - {data: 'plain text', meta: {source: a}}
//	    expect:                            # output records, in order
//	      - json: {level: error, msg: DISK FULL}
//	    from: only-errors                  # optional: run only stages from..to
//	    to: shout
//	    dropped: 1                         # optional: records the stages dropped
//	    errors: 0                          # optional: records that failed (drop, dead_letter)
//	    error: "record 2"                  # optional: the run must fail with this text
//	    unordered: false                   # optional: compare outputs as a multiset
//
// Records are compared as JSON values when the expected one is given with
// json:, or when both parse as JSON under the ndjson codec; as bytes
// otherwise. An expected record with meta: must carry exactly that
// metadata.
type TestCase struct {
	Name      string       `yaml:"name"`
	Input     []TestRecord `yaml:"input"`
	Expect    []TestRecord `yaml:"expect"`
	From      string       `yaml:"from"`
	To        string       `yaml:"to"`
	Dropped   *int64       `yaml:"dropped"`
	Errors    *int64       `yaml:"errors"`
	Error     string       `yaml:"error"`
	Unordered bool         `yaml:"unordered"`

	expectSet bool
	src       Config
}

// TestRecord is a record of a test case.
type TestRecord struct {
	Data []byte
	Meta map[string]string
	JSON bool // given as json: (compare as JSON)
}

// TestCases returns the cases of the spec's tests: section.
func (sp *Spec) TestCases() ([]TestCase, error) {
	if sp.Tests.IsZero() {
		return nil, nil
	}
	var raw []struct {
		Name      string   `yaml:"name"`
		Input     []Config `yaml:"input"`
		Expect    *Config  `yaml:"expect"`
		From      string   `yaml:"from"`
		To        string   `yaml:"to"`
		Dropped   *int64   `yaml:"dropped"`
		Errors    *int64   `yaml:"errors"`
		Error     string   `yaml:"error"`
		Unordered bool     `yaml:"unordered"`
	}
	if err := sp.Tests.Decode(&raw); err != nil {
		return nil, err
	}
	items := sp.Tests.items()
	var out []TestCase
	for i, r := range raw {
		tc := TestCase{Name: r.Name, From: r.From, To: r.To, Dropped: r.Dropped, Errors: r.Errors,
			Error: r.Error, Unordered: r.Unordered}
		if i < len(items) {
			tc.src = items[i]
		}
		if tc.Name == "" {
			tc.Name = fmt.Sprintf("case %d", i+1)
		}
		for _, c := range r.Input {
			rec, err := decodeTestRecord(c)
			if err != nil {
				return nil, err
			}
			tc.Input = append(tc.Input, rec)
		}
		if r.Expect != nil {
			tc.expectSet = true
			var list []Config
			if err := r.Expect.Decode(&list); err != nil {
				return nil, err
			}
			for _, c := range list {
				rec, err := decodeTestRecord(c)
				if err != nil {
					return nil, err
				}
				tc.Expect = append(tc.Expect, rec)
			}
		}
		out = append(out, tc)
	}
	return out, nil
}

func decodeTestRecord(c Config) (TestRecord, error) {
	if s, ok := c.scalar(); ok {
		return TestRecord{Data: []byte(s)}, nil
	}
	var m struct {
		Data *string           `yaml:"data"`
		JSON any               `yaml:"json"`
		Meta map[string]string `yaml:"meta"`
	}
	if err := c.Decode(&m); err != nil {
		return TestRecord{}, err
	}
	switch {
	case m.Data != nil && m.JSON != nil:
		return TestRecord{}, c.Errorf("json", "a test record takes data: or json:, not both")
	case m.Data != nil:
		return TestRecord{Data: []byte(*m.Data), Meta: m.Meta}, nil
	case m.JSON != nil:
		b, err := json.Marshal(m.JSON)
		if err != nil {
			return TestRecord{}, c.Errorf("json", "%v", err)
		}
		return TestRecord{Data: b, Meta: m.Meta, JSON: true}, nil
	}
	return TestRecord{}, c.Errorf("", "a test record is a string, or a mapping with data: or json: (and meta:)")
}

// TestResult is the outcome of one test case.
type TestResult struct {
	Case    string
	Passed  bool
	Problem string // why it failed: a diff of outputs, counts, errors
}

// RunTest runs one test case through the spec's pipeline (or the stage
// range it names). Configuration problems (a bad range, invalid input) are
// returned as errors; a failed expectation is a result.
func RunTest(ctx context.Context, sp *Spec, tc TestCase, opts ...Option) (TestResult, error) {
	res := TestResult{Case: tc.Name}
	sub := *sp
	sub.Tests = Config{}
	sub.Stages = append([]StageSpec(nil), sp.Stages...)
	if tc.From != "" || tc.To != "" {
		from, to := 0, len(sub.Stages)-1
		find := func(name, field string) (int, error) {
			for i, s := range sub.Stages {
				if s.Name == name {
					return i, nil
				}
			}
			return 0, errAtField(tc.src, sp.File, field, "test %q: no stage named %q", tc.Name, name)
		}
		var err error
		if tc.From != "" {
			if from, err = find(tc.From, "from"); err != nil {
				return res, err
			}
		}
		if tc.To != "" {
			if to, err = find(tc.To, "to"); err != nil {
				return res, err
			}
		}
		if to < from {
			return res, errAtField(tc.src, sp.File, "to", "test %q: stage %q comes before %q", tc.Name, tc.To, tc.From)
		}
		sub.Stages = sub.Stages[from : to+1]
	}
	if sub.DeadLetter != nil {
		dir, err := os.MkdirTemp("", "pipe-test")
		if err != nil {
			return res, err
		}
		defer os.RemoveAll(dir)
		sub.DeadLetter = &DeadLetterSpec{Path: filepath.Join(dir, "dead.ndjson"), src: sp.DeadLetter.src}
	}
	codecName := firstNonEmpty(sp.Input.Codec, CodecLines)
	for i, r := range tc.Input {
		if codecName == CodecNDJSON && !json.Valid(r.Data) {
			return res, errAtField(tc.src, sp.File, "input", "test %q: input record %d is not JSON, but the input codec is ndjson", tc.Name, i+1)
		}
	}
	p, err := Build(&sub, opts...)
	if err != nil {
		return res, err
	}
	defer p.Close()
	i := 0
	var got []*Record
	runErr := p.Stream(ctx, func(context.Context) (*Record, error) {
		if i == len(tc.Input) {
			return nil, io.EOF
		}
		r := tc.Input[i]
		i++
		return &Record{Data: bytes.Clone(r.Data), Meta: maps.Clone(r.Meta)}, nil
	}, func(r *Record) error {
		got = append(got, r.Clone())
		return nil
	})
	var ce *ConfigError
	if errors.As(runErr, &ce) {
		return res, runErr
	}
	var problems []string
	switch {
	case tc.Error != "" && runErr == nil:
		problems = append(problems, fmt.Sprintf("the run succeeded; want an error containing %q", tc.Error))
	case tc.Error != "" && !strings.Contains(runErr.Error(), tc.Error):
		problems = append(problems, fmt.Sprintf("error %q; want one containing %q", runErr, tc.Error))
	case tc.Error == "" && runErr != nil:
		problems = append(problems, fmt.Sprintf("the run failed: %v", runErr))
	}
	if tc.expectSet {
		if d := diffRecords(tc.Expect, got, codecName == CodecNDJSON, tc.Unordered); d != "" {
			problems = append(problems, "output differs (- want, + got):\n"+strings.TrimSuffix(d, "\n"))
		}
	}
	var dropped, errs int64
	for _, st := range p.Stats() {
		if st.Kind == "branch" {
			continue // a branch's row adds up its stages' rows
		}
		if st.Name != "input" && st.Name != "output" && st.Kind != "output" {
			dropped += st.Dropped
		}
		errs += st.Errors
	}
	if tc.Dropped != nil && *tc.Dropped != dropped {
		problems = append(problems, fmt.Sprintf("%d records dropped; want %d", dropped, *tc.Dropped))
	}
	if tc.Errors != nil && *tc.Errors != errs {
		problems = append(problems, fmt.Sprintf("%d records failed; want %d", errs, *tc.Errors))
	}
	res.Passed = len(problems) == 0
	res.Problem = strings.Join(problems, "\n")
	return res, nil
}

// render gives a record's comparable text: canonical JSON (sorted keys)
// when compared as JSON, else its bytes; with its metadata when wanted.
func render(data []byte, meta map[string]string, asJSON, withMeta bool) string {
	s := string(data)
	if asJSON {
		var v any
		if json.Unmarshal(data, &v) == nil {
			b, _ := json.Marshal(v)
			s = string(b)
		}
	}
	if withMeta {
		m, _ := json.Marshal(meta)
		s += "  meta=" + string(m)
	}
	return s
}

// diffRecords returns a line diff of want and got ("" when they match).
func diffRecords(want []TestRecord, got []*Record, ndjson, unordered bool) string {
	w := make([]string, len(want))
	g := make([]string, len(got))
	for i, r := range want {
		asJSON := r.JSON || (ndjson && json.Valid(r.Data))
		w[i] = render(r.Data, r.Meta, asJSON, r.Meta != nil)
		if i < len(got) {
			g[i] = render(got[i].Data, got[i].Meta, asJSON && json.Valid(got[i].Data), r.Meta != nil)
		}
	}
	for i := len(want); i < len(got); i++ {
		g[i] = render(got[i].Data, nil, ndjson && json.Valid(got[i].Data), false)
	}
	if unordered {
		slices.Sort(w)
		slices.Sort(g)
	}
	return lineDiff(w, g)
}

// lineDiff lists want against got line by line, from go-difflib's
// matching blocks: "  " same, "- " only in want, "+ " only in got (a
// changed line reads as its "- " then its "+ "); "" when equal.
func lineDiff(want, got []string) string {
	m := difflib.NewMatcherWithJunk(want, got, false, nil)
	var b strings.Builder
	same := true
	for _, op := range m.GetOpCodes() {
		if op.Tag == 'e' {
			for _, l := range want[op.I1:op.I2] {
				b.WriteString("  " + l + "\n")
			}
			continue
		}
		same = false
		for _, l := range want[op.I1:op.I2] { // empty for an insert
			b.WriteString("- " + l + "\n")
		}
		for _, l := range got[op.J1:op.J2] { // empty for a delete
			b.WriteString("+ " + l + "\n")
		}
	}
	if same {
		return ""
	}
	return b.String()
}
