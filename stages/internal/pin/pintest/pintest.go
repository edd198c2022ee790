// Package pintest checks, for a stage kind that runs its entry file
// in-process, that the bytes it runs are the bytes that were verified.
package pintest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// Case is one kind's entry files.
type Case struct {
	Kind string // lua, js, wasm
	Ext  string // of the entry file: .lua
	// Entry is the resolved, verified entry; Swapped what an attacker puts
	// in its place. Both transform In into different outputs.
	Entry, Swapped []byte
	Codec          string // input codec ("" for lines)
	In             string // input records
	Want           string // Entry's output for In
}

// resolver resolves every name to one plugin with a pinned SHA-256, as a
// plugin directory does after checking its signature.
type resolver struct {
	kind, entry, sum string
}

func (r resolver) Resolve(_ *engine.Spec, name, _ string) (engine.ResolvedPlugin, bool, error) {
	return engine.ResolvedPlugin{Name: name, Version: "1.0.0", Kind: r.kind, Entry: r.entry, SHA256: r.sum}, true, nil
}

type event struct {
	name  string
	attrs map[string]any
}

// build writes the entry, resolves a pipeline that uses it (pinning its
// hash) and returns the pipeline with the events it reports.
func build(t *testing.T, c Case) (p *engine.Pipeline, entry, sum string, events func() []event) {
	t.Helper()
	dir := t.TempDir()
	entry = filepath.Join(dir, "plugins", "p", "entry"+c.Ext)
	if err := os.MkdirAll(filepath.Dir(entry), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(entry, c.Entry, 0o644); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(c.Entry)
	sum = hex.EncodeToString(h[:])
	yaml := "stages:\n  - {name: s, use: p}\n"
	if c.Codec != "" {
		yaml = "input: {codec: " + c.Codec + "}\noutput: {codec: " + c.Codec + "}\n" + yaml
	}
	file := filepath.Join(dir, "p.yaml")
	spec, err := engine.Parse([]byte(yaml), file)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []event
	p, err = engine.Build(spec, engine.WithResolver(resolver{kind: c.Kind, entry: entry, sum: sum}),
		engine.WithEvents(func(_, _, name string, attrs map[string]any) {
			mu.Lock()
			got = append(got, event{name, attrs})
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, entry, sum, func() []event {
		mu.Lock()
		defer mu.Unlock()
		return append([]event(nil), got...)
	}
}

func run(t *testing.T, p *engine.Pipeline, in string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := p.RunReader(context.Background(), strings.NewReader(in), &out)
	return out.String(), err
}

// Run checks that the kind runs a verified entry, refuses an entry swapped
// between resolution and load (a configuration error naming the file and
// both hashes, and the event plugin_refused), and never reads the entry
// again once loaded (a swap after Load changes nothing).
func Run(t *testing.T, c Case) {
	t.Run("verified", func(t *testing.T) {
		p, _, _, events := build(t, c)
		out, err := run(t, p, c.In)
		if err != nil || out != c.Want {
			t.Fatalf("run = %q, %v; want %q", out, err, c.Want)
		}
		for _, e := range events() {
			if e.name == "plugin_refused" {
				t.Errorf("event %s %v for a verified entry", e.name, e.attrs)
			}
		}
	})
	t.Run("swapped before load", func(t *testing.T) {
		p, entry, sum, events := build(t, c)
		if err := os.WriteFile(entry, c.Swapped, 0o644); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(c.Swapped)
		actual := hex.EncodeToString(h[:])
		err := p.Load(context.Background())
		var ce *engine.ConfigError
		if !errors.As(err, &ce) {
			t.Fatalf("Load = %v (%T), want a *engine.ConfigError", err, err)
		}
		for _, w := range []string{entry, sum, actual} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("err = %q, want it to name %s", err, w)
			}
		}
		var refused []event
		for _, e := range events() {
			if e.name == "plugin_refused" {
				refused = append(refused, e)
			}
		}
		if len(refused) != 1 {
			t.Fatalf("events %v, want one plugin_refused", events())
		}
		want := map[string]any{"path": entry, "sha256_expected": sum, "sha256_actual": actual}
		for k, v := range want {
			if refused[0].attrs[k] != v {
				t.Errorf("plugin_refused %s = %v, want %v", k, refused[0].attrs[k], v)
			}
		}
		if r, _ := refused[0].attrs["reason"].(string); r == "" {
			t.Errorf("plugin_refused has no reason: %v", refused[0].attrs)
		}
		if out, err := run(t, p, c.In); err == nil || out != "" {
			t.Errorf("run after a refused load = %q, %v; want the same error and no output", out, err)
		}
	})
	t.Run("swapped after load", func(t *testing.T) {
		p, entry, _, events := build(t, c)
		if err := p.Load(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(entry, c.Swapped, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := run(t, p, c.In)
		if err != nil || out != c.Want {
			t.Fatalf("run = %q, %v; want the verified entry's %q", out, err, c.Want)
		}
		for _, e := range events() {
			if e.name == "plugin_refused" {
				t.Errorf("event %s %v", e.name, e.attrs)
			}
		}
	})
}
