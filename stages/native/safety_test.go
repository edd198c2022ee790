package native_test

import (
	"strings"
	"testing"
)

// A stage never chooses between repeated keys (package jsonkey): the record
// fails, naming the key, whatever the stage does with it.
func TestDuplicateKeysFailTheRecord(t *testing.T) {
	dup := `{"password":"a","user":{"id":1,"id":2},"password":"secret"}` + "\n"
	stages := map[string]string{
		"delete":          "{name: s, type: native, use: delete, config: {fields: [password]}}",
		"set":             "{name: s, type: native, use: set, config: {fields: {password: x}}}",
		"set nested":      "{name: s, type: native, use: set, config: {fields: {user.id: 3}}}",
		"rename from":     "{name: s, type: native, use: rename, config: {fields: {password: pw}}}",
		"rename to":       "{name: s, type: native, use: rename, config: {fields: {user: password}}}",
		"replace":         "{name: s, type: native, use: replace, config: {field: password, pattern: '.', with: '*'}}",
		"case":            "{name: s, type: native, use: case, config: {field: password, to: upper}}",
		"select":          "{name: s, type: native, use: select, config: {field: password, equals: a}}",
		"select nested":   "{name: s, type: native, use: select, config: {field: user.id, exists: true}}",
		"grep":            "{name: s, type: native, use: grep, config: {field: password, pattern: secret, invert: true}}",
		"trim":            "{name: s, type: native, use: trim, config: {field: password}}",
		"count":           "{name: s, type: native, use: count, config: {by: password}}",
		"explode as":      "{name: s, type: native, use: explode, config: {field: tags, as: password}}",
		"parse_json into": "{name: s, type: native, use: parse_json, config: {field: inner}}",
		"parse_json to":   "{name: s, type: native, use: parse_json, config: {field: inner, target: password}}",
	}
	in := `{"tags":[1],"inner":"{\"password\":\"z\"}",` + dup[1:]
	for name, stage := range stages {
		t.Run(name, func(t *testing.T) {
			out, err := run(t, "input: {codec: ndjson}\nstages: ["+stage+"]", in)
			if err == nil || !strings.Contains(err.Error(), "record 1: duplicate key") {
				t.Fatalf("err = %v, want a record error for the duplicate key (out %q)", err, out)
			}
			if out != "" {
				t.Errorf("out = %q, want nothing", out)
			}
		})
	}
	// Keys that repeat elsewhere, or only in other objects, are no concern.
	out, err := run(t, "input: {codec: ndjson}\nstages: [{name: s, type: native, use: delete, config: {fields: [password]}}]",
		`{"password":"a","a":{"password":1},"b":{"password":2},"c":{"x":1,"x":2}}`+"\n")
	if err != nil || out != `{"a":{"password":1},"b":{"password":2},"c":{"x":1,"x":2}}`+"\n" {
		t.Fatalf("out = %q, err = %v", out, err)
	}
	// An escaped spelling of the same key is the same key.
	_, err = run(t, "input: {codec: ndjson}\nstages: [{name: s, type: native, use: delete, config: {fields: [password]}}]",
		`{"password":"a","pass\u0077ord":"secret"}`+"\n")
	if err == nil || !strings.Contains(err.Error(), "duplicate key") {
		t.Fatalf("err = %v, want duplicate key", err)
	}
	// Under on_error: drop the record is dropped, not half-redacted.
	out, err = run(t, "input: {codec: ndjson}\nstages: [{name: s, type: native, use: delete, on_error: drop, config: {fields: [password]}}]",
		dup+`{"password":"b","k":1}`+"\n")
	if err != nil || out != `{"k":1}`+"\n" {
		t.Fatalf("out = %q, err = %v", out, err)
	}
}

// case changes letters only: bytes that are not valid UTF-8 stay as they
// were, in the whole record and in a JSON field.
func TestCaseKeepsInvalidUTF8(t *testing.T) {
	cases := []struct{ yaml, in, out string }{
		{"stages: [{name: s, type: native, use: case, config: {to: upper}}]",
			"caf\xe9 \xc3\xa9t\xc3\xa9\n", "CAF\xe9 \xc3\x89T\xc3\x89\n"},
		{"stages: [{name: s, type: native, use: case, config: {to: lower}}]",
			"CAF\xe9 \xff\xfe \xc3\x89\n", "caf\xe9 \xff\xfe \xc3\xa9\n"},
		{"input: {codec: ndjson}\nstages: [{name: s, type: native, use: case, config: {field: m, to: upper}}]",
			"{\"m\":\"caf\xe9 \\\"q\\\" \\u0001\"}\n", "{\"m\":\"CAF\xe9 \\\"Q\\\" \\u0001\"}\n"},
	}
	for _, c := range cases {
		out, err := run(t, c.yaml, c.in)
		if err != nil || out != c.out {
			t.Errorf("%q: out %q, err %v; want %q", c.in, out, err, c.out)
		}
	}
}

// select compares JSON numbers by their exact value, not as float64.
func TestSelectComparesNumbersExactly(t *testing.T) {
	in := "{\"n\":9007199254740993}\n{\"n\":9007199254740992}\n{\"n\":9007199254740992.0}\n{\"n\":9.007199254740992e15}\n{\"n\":1e999999999}\n"
	cases := []struct{ config, out string }{
		{"{field: n, equals: 9007199254740992}", "{\"n\":9007199254740992}\n{\"n\":9007199254740992.0}\n{\"n\":9.007199254740992e15}\n"},
		{"{field: n, not_equals: 9007199254740992}", "{\"n\":9007199254740993}\n{\"n\":1e999999999}\n"},
		{"{field: n, equals: 9007199254740993}", "{\"n\":9007199254740993}\n"},
		{"{field: n, gt: 9007199254740992}", "{\"n\":9007199254740993}\n{\"n\":1e999999999}\n"},
		{"{field: n, lte: 9007199254740992}", "{\"n\":9007199254740992}\n{\"n\":9007199254740992.0}\n{\"n\":9.007199254740992e15}\n"},
		{"{field: n, equals: [9007199254740992]}", ""},
	}
	for _, c := range cases {
		out, err := run(t, "input: {codec: ndjson}\nstages: [{name: s, type: native, use: select, config: "+c.config+"}]", in)
		if err != nil || out != c.out {
			t.Errorf("%s: out %q, err %v; want %q", c.config, out, err, c.out)
		}
	}
	out, err := run(t, "input: {codec: ndjson}\nstages: [{name: s, type: native, use: select, config: {field: n, equals: [9007199254740992, 0.1]}}]",
		"{\"n\":[9007199254740993,0.1]}\n{\"n\":[9007199254740992.0,0.10]}\n")
	if err != nil || out != "{\"n\":[9007199254740992.0,0.10]}\n" {
		t.Errorf("lists: out %q, err %v", out, err)
	}
	out, err = run(t, "input: {codec: ndjson}\nstages: [{name: s, type: native, use: select, config: {field: n, equals: 0.1}}]",
		"{\"n\":0.1}\n{\"n\":0.10}\n{\"n\":0.1000000000000000001}\n{\"n\":1e-1}\n")
	if err != nil || out != "{\"n\":0.1}\n{\"n\":0.10}\n{\"n\":1e-1}\n" {
		t.Errorf("decimals: out %q, err %v", out, err)
	}
}
