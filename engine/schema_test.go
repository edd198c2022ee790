package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const levelSchema = `
      type: object
      required: [level]
      properties:
        level: {enum: [info, warn, error]}
        status: {type: integer, minimum: 100}`

func TestSchemaPolicies(t *testing.T) {
	in := "{\"level\":\"info\"}\n{\"level\":\"loud\"}\n{\"status\":5,\"level\":\"warn\"}\n{\"level\":\"error\"}\n"
	for _, c := range []struct {
		policy, out string
		errs        int64
		dead        int
		fails       bool
	}{
		{"drop", "{\"level\":\"info\"}\n{\"level\":\"error\"}\n", 2, 0, false},
		{"dead_letter", "{\"level\":\"info\"}\n{\"level\":\"error\"}\n", 2, 2, false},
		{"fail", "{\"level\":\"info\"}\n", 1, 0, true},
	} {
		t.Run(c.policy, func(t *testing.T) {
			dir := t.TempDir()
			yaml := "input: {codec: ndjson}\ndead_letter: {path: dead.ndjson}\nstages:\n  - name: checked\n    type: native\n    use: pass\n    on_error: " + c.policy + "\n    schema:" + levelSchema + "\n"
			file := filepath.Join(dir, "p.yaml")
			os.WriteFile(file, []byte(yaml), 0o644)
			reg := NewRegistry()
			reg.Register("pass", func(Config) (Transformer, error) {
				return TransformerFunc(func(_ context.Context, r *Record, emit func(*Record)) error { emit(r); return nil }), nil
			})
			spec, err := Parse([]byte(yaml), file)
			if err != nil {
				t.Fatal(err)
			}
			p, err := Build(spec, WithRegistry(reg))
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			err = p.RunReader(context.Background(), strings.NewReader(in), &out)
			if c.fails {
				var se *StageError
				if !errors.As(err, &se) || !errors.Is(err, ErrSchema) || se.Record != 2 || !strings.Contains(err.Error(), "at /level") || !strings.Contains(err.Error(), "/properties/level/enum") {
					t.Fatalf("err = %v, want a schema violation of record 2 naming /level and the schema path", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if out.String() != c.out {
				t.Errorf("out = %q, want %q", out.String(), c.out)
			}
			if st := p.Stats()[1]; st.Errors != c.errs {
				t.Errorf("stats %+v, want %d errors", st, c.errs)
			}
			dl, _ := os.ReadFile(filepath.Join(dir, "dead.ndjson"))
			if n := strings.Count(string(dl), "\n"); n != c.dead {
				t.Errorf("%d dead letters, want %d:\n%s", n, c.dead, dl)
			}
			if c.dead > 0 && !strings.Contains(string(dl), "minimum") {
				t.Errorf("dead letters do not say why: %s", dl)
			}
		})
	}
}

func TestSchemaFileAndErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "s.json"), []byte(`{"type":"object","required":["id"]}`), 0o644)
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte(`{"type":"nonsense"}`), 0o644)
	reg := NewRegistry()
	reg.Register("pass", func(Config) (Transformer, error) {
		return TransformerFunc(func(_ context.Context, r *Record, emit func(*Record)) error { emit(r); return nil }), nil
	})
	load := func(schema string) (*Pipeline, error) {
		yaml := "input: {codec: ndjson}\nstages:\n  - {name: s, type: native, use: pass, on_error: drop, schema: " + schema + "}\n"
		file := filepath.Join(dir, "p.yaml")
		os.WriteFile(file, []byte(yaml), 0o644)
		p, err := Load(file, WithRegistry(reg))
		if err != nil {
			return nil, err
		}
		return p, p.Load(context.Background())
	}
	p, err := load("s.json")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p.RunReader(context.Background(), strings.NewReader("{\"id\":1}\n{}\n[1]\n"), &out)
	if out.String() != "{\"id\":1}\n" {
		t.Errorf("out = %q", out.String())
	}
	for _, bad := range []string{"bad.json", "missing.json", "{type: [1]}"} {
		_, err := load(bad)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Line != 3 {
			t.Errorf("schema %s: err = %v, want a config error at line 3", bad, err)
		}
	}
}
