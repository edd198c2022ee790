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
