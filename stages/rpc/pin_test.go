package rpc_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// resolver resolves use: cases to a copy of the cases plugin, with the
// SHA-256 it had when resolved (what a plugin directory's catalog reports
// after checking the signature).
type resolver struct{ entry, sum string }

func (r resolver) Resolve(_ *engine.Spec, name, _ string) (engine.ResolvedPlugin, bool, error) {
	return engine.ResolvedPlugin{Name: name, Version: "1.0.0", Kind: "rpc", Entry: r.entry, SHA256: r.sum}, name == "cases", nil
}

// A plugin from a plugin directory runs only as the binary that was
// resolved: one swapped in afterwards is refused at load, and at a restart
// after a crash.
func TestResolvedPluginIsPinned(t *testing.T) {
	entry := filepath.Join(t.TempDir(), "cases")
	b, err := os.ReadFile(plugin("cases"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(entry, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	r := resolver{entry, hex.EncodeToString(sum[:])}
	build := func() *engine.Pipeline {
		t.Helper()
		spec, err := engine.Parse([]byte("stages:\n  - {name: p, use: cases, args: [boom], on_error: drop}\n"), "p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		p, err := engine.Build(spec, engine.WithResolver(r))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := build()
	defer p.Close()
	var out strings.Builder
	if err := p.RunReader(context.Background(), strings.NewReader("a\n"), &out); err != nil || out.String() != "a\n" {
		t.Fatalf("untouched plugin: %q, %v", out.String(), err)
	}

	// Loaded, then swapped (the appended bytes still run): the restart after
	// the crash on "boom" refuses the new binary.
	q := build()
	defer q.Close()
	if err := q.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(entry+".new", append(b, "tampered"...), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(entry+".new", entry); err != nil { // the running binary cannot be written to
		t.Fatal(err)
	}
	out.Reset()
	err = q.RunReader(context.Background(), strings.NewReader("a\nboom\nb\n"), &out)
	if err == nil || !strings.Contains(err.Error(), "does not match the pinned sha256") {
		t.Errorf("restart of a swapped binary: %q, %v; want it refused", out.String(), err)
	}

	// Swapped before loading: refused at load, naming the plugin.
	z := build()
	defer z.Close()
	err = z.Load(context.Background())
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || ce.Line != 2 || !strings.Contains(err.Error(), "plugin cases@1.0.0") || !strings.Contains(err.Error(), "changed since it was resolved") {
		t.Errorf("load of a swapped binary: %v", err)
	}
}
