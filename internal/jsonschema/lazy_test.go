package jsonschema

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

// The metaschemas compiled on first use still reject an invalid schema,
// for every draft, also when several goroutines compile at once.
func TestMetaschemasLoadedOnFirstUse(t *testing.T) {
	drafts := []*Draft{Draft4, Draft6, Draft7, Draft2019, Draft2020}
	var wg sync.WaitGroup
	errs := make([]error, len(drafts)*2)
	for i, d := range drafts {
		for j, schema := range []string{`{"type": 5}`, `{"type": "string"}`} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				doc, err := UnmarshalJSON(strings.NewReader(schema))
				if err != nil {
					errs[2*i+j] = err
					return
				}
				c := NewCompiler()
				c.DefaultDraft(d)
				if err := c.AddResource("mem://s.json", doc); err != nil {
					errs[2*i+j] = err
					return
				}
				_, errs[2*i+j] = c.Compile("mem://s.json")
			}()
		}
	}
	wg.Wait()
	for i, d := range drafts {
		var sve *SchemaValidationError
		if !errors.As(errs[2*i], &sve) {
			t.Errorf("%v: invalid schema compiled: err %v, want a SchemaValidationError", d, errs[2*i])
		}
		if errs[2*i+1] != nil {
			t.Errorf("%v: valid schema: %v", d, errs[2*i+1])
		}
	}
}

// The drafts' subschema locations, parsed on first use, still find
// resources embedded under each draft's keywords (an embedded "$id" that a
// "$ref" names is not loaded from the network but found in place).
func TestSubschemaLocationsOnFirstUse(t *testing.T) {
	cases := []struct {
		d      *Draft
		schema string
	}{
		{Draft4, `{"definitions": {"a": {"id": "http://x.test/a.json", "type": "string"}}, "allOf": [{"$ref": "http://x.test/a.json"}]}`},
		{Draft6, `{"definitions": {"a": {"$id": "http://x.test/a.json", "type": "string"}}, "allOf": [{"$ref": "http://x.test/a.json"}]}`},
		{Draft7, `{"if": {"$id": "http://x.test/a.json", "type": "string"}, "allOf": [{"$ref": "http://x.test/a.json"}]}`},
		{Draft2019, `{"$defs": {"a": {"$id": "http://x.test/a.json", "type": "string"}}, "$ref": "http://x.test/a.json"}`},
		{Draft2020, `{"prefixItems": [{"$id": "http://x.test/a.json", "type": "string"}], "$ref": "http://x.test/a.json"}`},
	}
	for _, tc := range cases {
		doc, err := UnmarshalJSON(strings.NewReader(tc.schema))
		if err != nil {
			t.Fatal(err)
		}
		c := NewCompiler()
		c.DefaultDraft(tc.d)
		if err := c.AddResource("mem://s.json", doc); err != nil {
			t.Fatal(err)
		}
		sch, err := c.Compile("mem://s.json")
		if err != nil {
			t.Errorf("%v: %v", tc.d, err)
			continue
		}
		if err := sch.Validate("a"); err != nil {
			t.Errorf("%v: \"a\": %v", tc.d, err)
		}
		if err := sch.Validate(5.0); err == nil {
			t.Errorf("%v: 5 passed the embedded schema", tc.d)
		}
	}
}
