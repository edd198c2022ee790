package plugins

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stage"
)

// writePlugin writes DIR/SUB/plugin.yaml and its entry file.
func writePlugin(t *testing.T, dir, sub, manifest, entry string) string {
	t.Helper()
	d := filepath.Join(dir, sub)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d, ManifestName), []byte(manifest), 0o644)
	if entry != "" {
		os.WriteFile(filepath.Join(d, "entry.bin"), []byte(entry), 0o644)
	}
	return d
}

func manifest(name, version, api string, extra ...string) string {
	return "name: " + name + "\nversion: " + version + "\nkind: wasm\nentry: entry.bin\napi: '" + api + "'\n" + strings.Join(extra, "\n") + "\n"
}

func fixture(t *testing.T) (a, b string) {
	a, b = t.TempDir(), t.TempDir()
	writePlugin(t, a, "redact/1.2.0", manifest("redact", "1.2.0", ">=2.0, <3"), "a-1.2.0")
	writePlugin(t, a, "redact/1.4.1", manifest("redact", "1.4.1", ">=2.0, <3"), "a-1.4.1")
	writePlugin(t, a, "redact/2.0.0", manifest("redact", "2.0.0", ">=3.0"), "a-2.0.0") // needs a newer host
	writePlugin(t, b, "redact-1.4.1", manifest("redact", "1.4.1", ">=2.0"), "b-1.4.1") // shadowed by a
	writePlugin(t, b, "redact-1.5.0", manifest("redact", "1.5.0", ">=2.0"), "b-1.5.0")
	writePlugin(t, b, "geo", manifest("geo", "0.3.0", "^2.0", "config_schema: {type: object, required: [region], properties: {region: {enum: [eu, us]}}}"), "geo")
	writePlugin(t, b, "broken", "name: broken\nversion: one\nkind: wasm\nentry: entry.bin\napi: '>=1'\n", "x")
	writePlugin(t, b, "typo", "name: typo\nversoin: 1.0.0\n", "x")
	return a, b
}

func TestDiscoverAndResolve(t *testing.T) {
	a, b := fixture(t)
	c := Discover([]string{a, b})
	if len(c.Shadowed) != 1 || c.Shadowed[0].Dir != filepath.Join(b, "redact-1.4.1") {
		t.Errorf("shadowed = %v, want b's redact 1.4.1", c.Shadowed)
	}
	if len(c.Problems) != 2 {
		t.Errorf("problems = %v, want the two bad manifests", c.Problems)
	}
	for _, pr := range c.Problems {
		var ce *engine.ConfigError
		if !errors.As(pr.Err, &ce) {
			t.Errorf("%s: %v is not a config error", pr.Path, pr.Err)
		}
		if strings.Contains(pr.Path, "typo") && (ce.Line != 2 || !strings.Contains(ce.Msg, `did you mean "version"`)) {
			t.Errorf("typo manifest: %v", pr.Err)
		}
		// a value the manifest's rules reject is pointed at, too
		if strings.Contains(pr.Path, "broken") && (ce.Line != 2 || ce.Col != 10 || !strings.Contains(ce.Msg, `"one" is not a semantic version`)) {
			t.Errorf("broken manifest: %v, want it at the version (2:10)", pr.Err)
		}
	}
	cases := []struct {
		name, constraint, entry, err string
	}{
		{"redact", "", "b-1.5.0", ""},     // highest compatible: 2.0.0 needs host API 3
		{"redact", "^1.2", "b-1.5.0", ""}, // across both directories
		{"redact", "~1.4", "a-1.4.1", ""}, // the first directory wins a tie
		{"redact", ">=1.2 <1.4", "a-1.2.0", ""},
		{"redact", "^2", "", "needs host API >=3.0; this pipe has " + stage.APIVersion},
		{"redact", "^3", "", "no version matches ^3 (available: 2.0.0, 1.5.0, 1.4.1, 1.2.0)"},
		{"redact", "not a range", "", "is not a version constraint"},
		{"broken", "", "", `its manifest is invalid: ` + filepath.Join(b, "broken", ManifestName) + `:2:10: version: "one"`},
	}
	for _, tc := range cases {
		p, ok, err := c.Resolve(tc.name, tc.constraint)
		if !ok {
			t.Fatalf("%s: not found", tc.name)
		}
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s@%s: err = %v, want %q", tc.name, tc.constraint, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s@%s: %v", tc.name, tc.constraint, err)
		}
		if got, _ := os.ReadFile(p.EntryPath); string(got) != tc.entry {
			t.Errorf("%s@%s resolved to %s (%s), want %s", tc.name, tc.constraint, p.Version, got, tc.entry)
		}
	}
	if _, ok, _ := c.Resolve("nope", ""); ok {
		t.Error("an unknown plugin was found")
	}
}

// echoKind is a stage kind for the tests: it prefixes records with its
// entry file's contents.
func echoKind(spec *engine.StageSpec, env *engine.BuildEnv) (engine.Stage, error) {
	return stageFunc(func(context.Context) (engine.Transformer, error) {
		b, err := os.ReadFile(spec.Path)
		if err != nil {
			return nil, err
		}
		return engine.TransformerFunc(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
			r.Data = append(append(append([]byte{}, b...), ':'), r.Data...)
			emit(r)
			return nil
		}), nil
	}), nil
}

type stageFunc func(context.Context) (engine.Transformer, error)

func (f stageFunc) New(ctx context.Context) (engine.Transformer, error) { return f(ctx) }

func build(t *testing.T, c *Catalog, yaml string) (*engine.Pipeline, error) {
	t.Helper()
	reg := engine.NewRegistry()
	reg.RegisterKind("wasm", echoKind)
	spec, err := engine.Parse([]byte(yaml), "p.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return engine.Build(spec, engine.WithRegistry(reg), engine.WithResolver(Resolver{Catalog: c}))
}

func TestPipelineUsesPlugin(t *testing.T) {
	a, b := fixture(t)
	c := Discover([]string{a, b})
	p, err := build(t, c, "stages:\n  - {name: r, use: redact@^1.2}\n")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader("x\n"), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "b-1.5.0:x\n" {
		t.Errorf("out = %q", out.String())
	}
	if got := p.Spec().Stages[0].Plugin(); got != "redact@1.5.0" {
		t.Errorf("stage plugin = %q", got)
	}
	if sum := sha256.Sum256([]byte("b-1.5.0")); p.Spec().Stages[0].PluginSHA256() != hex.EncodeToString(sum[:]) {
		t.Errorf("stage plugin sha256 = %q, want that of the entry", p.Spec().Stages[0].PluginSHA256())
	}
	for _, bad := range []struct{ yaml, msg string }{
		{"stages:\n  - {name: r, use: redact@^9}\n", "no version matches ^9"},
		{"stages:\n  - {name: r, type: lua, use: redact}\n", "is a wasm plugin, but the stage says type: lua"},
		{"stages:\n  - {name: g, use: geo, config: {region: mars}}\n", "value must be one of"},
		{"stages:\n  - {name: g, use: geo}\n", "missing property 'region'"},
		{"stages:\n  - {name: n, use: nope@1}\n", `no plugin named "nope"`},
	} {
		_, err := build(t, c, bad.yaml)
		var ce *engine.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), bad.msg) || ce.Line != 2 {
			t.Errorf("%q: err = %v, want a config error at line 2 containing %q", bad.yaml, err, bad.msg)
		}
	}
	// the schema violation points at the offending config field
	_, err = build(t, c, "stages:\n  - name: g\n    use: geo\n    config:\n      region: mars\n")
	var ce *engine.ConfigError
	if !errors.As(err, &ce) || ce.Line != 5 {
		t.Errorf("err = %v, want it at the region value (line 5)", err)
	}
}

func TestSignatures(t *testing.T) {
	a, _ := fixture(t)
	keys := t.TempDir()
	if err := Keygen(filepath.Join(keys, "team"), "team"); err != nil {
		t.Fatal(err)
	}
	Keygen(filepath.Join(keys, "other"), "other")
	team, err := LoadPublicKey(filepath.Join(keys, "team.pub"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := LoadPublicKey(filepath.Join(keys, "other.pub"))
	if _, err := LoadPublicKey(filepath.Join(keys, "team")); err == nil {
		t.Error("a private key file was accepted as a public key")
	}
	for _, v := range []string{"1.2.0", "1.4.1"} {
		if _, err := Sign(filepath.Join(a, "redact", v), filepath.Join(keys, "team")); err != nil {
			t.Fatal(err)
		}
	}
	c := Discover([]string{a})
	c.Trust([]Key{team}, true)
	p, _, err := c.Resolve("redact", "^1")
	if err != nil || p.Version.String() != "1.4.1" || p.Signature != "signed by team" {
		t.Fatalf("resolve signed: %v %v", p, err)
	}
	// Tamper with 1.4.1's entry: it is refused, 1.2.0 is used instead.
	os.WriteFile(filepath.Join(a, "redact", "1.4.1", "entry.bin"), []byte("evil"), 0o644)
	c = Discover([]string{a})
	c.Trust([]Key{team}, true)
	p, _, err = c.Resolve("redact", "^1")
	if err != nil || p.Version.String() != "1.2.0" {
		t.Fatalf("after tampering: %v %v, want 1.2.0", p, err)
	}
	if sk := c.Skipped("redact", "^1", p); len(sk) != 1 || sk[0].Plugin.Version.String() != "1.4.1" || !sk[0].Signature || !strings.Contains(sk[0].Why, "signature does not match") {
		t.Errorf("skipped = %+v, want the tampered 1.4.1", sk)
	}
	for _, q := range c.Plugins {
		if q.Version.String() == "1.4.1" && !strings.HasPrefix(q.Signature, "invalid: signature does not match") {
			t.Errorf("tampered plugin signature status = %q", q.Signature)
		}
	}
	_, _, err = c.Resolve("redact", "~1.4")
	if err == nil || !strings.Contains(err.Error(), "signatures are required") {
		t.Errorf("tampered only candidate: err = %v", err)
	}
	// Signed by a key that is not trusted.
	c.Trust([]Key{other}, true)
	if _, _, err := c.Resolve("redact", "1.2.0"); err == nil {
		t.Error("a plugin signed by an untrusted key was accepted")
	}
	// Not required: unsigned plugins resolve.
	c.Trust(nil, false)
	if p, _, err := c.Resolve("redact", "~1.4"); err != nil || p.Signature == "" {
		t.Errorf("unsigned, not required: %v %v", p, err)
	}
	// With no key to check it against, a signature is neither valid nor
	// invalid.
	for _, q := range c.Plugins {
		if q.Version.String() == "1.2.0" && q.Signature != ErrNoTrustedKey.Error() {
			t.Errorf("signed, no key trusted: status %q", q.Signature)
		}
	}
}
