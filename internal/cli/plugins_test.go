package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stage"
)

// prefixKind stands in for a script kind: it prefixes records with the
// contents of its entry file.
func prefixKind(spec *engine.StageSpec, env *engine.BuildEnv) (engine.Stage, error) {
	return prefixStage(spec.Path), nil
}

type prefixStage string

func (p prefixStage) New(context.Context) (engine.Transformer, error) {
	b, err := os.ReadFile(string(p))
	if err != nil {
		return nil, err
	}
	return engine.TransformerFunc(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
		r.Data = append(append([]byte{}, b...), r.Data...)
		emit(r)
		return nil
	}), nil
}

func cli(t *testing.T, reg *engine.Registry, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = mainWith(reg, args, strings.NewReader(stdin), &o, &e)
	return code, o.String(), e.String()
}

func TestPluginCommands(t *testing.T) {
	reg := engine.NewRegistry()
	reg.RegisterKind("js", prefixKind)
	dir := t.TempDir()
	plugs := filepath.Join(dir, "plugins")
	for _, v := range []string{"1.0.0", "1.3.0", "2.0.0"} {
		d := filepath.Join(plugs, "tag", v)
		os.MkdirAll(d, 0o755)
		api := ">=2.0, <3"
		if v == "2.0.0" {
			api = ">=3"
		}
		os.WriteFile(filepath.Join(d, "plugin.yaml"), []byte("name: tag\nversion: "+v+"\nkind: js\nentry: tag.js\napi: '"+api+"'\ndescription: prefixes records\n"), 0o644)
		os.WriteFile(filepath.Join(d, "tag.js"), []byte("v"+v+":"), 0o644)
	}
	wasm := filepath.Join(plugs, "mask", "0.1.0")
	os.MkdirAll(wasm, 0o755)
	os.WriteFile(filepath.Join(wasm, "plugin.yaml"), []byte("name: mask\nversion: 0.1.0\nkind: wasm\nentry: mask.wasm\napi: '^2'\n"), 0o644)
	os.WriteFile(filepath.Join(wasm, "mask.wasm"), []byte("\x00asm"), 0o644)
	key := filepath.Join(dir, "team")
	if code, out, errs := cli(t, reg, "", "plugins", "keygen", key, "--name", "team"); code != 0 || !strings.Contains(out, "team.pub") {
		t.Fatalf("keygen: %d %s %s", code, out, errs)
	}
	if code, _, _ := cli(t, reg, "", "plugins", "keygen", key); code != 2 {
		t.Error("keygen overwrote a key")
	}
	if code, out, errs := cli(t, reg, "", "plugins", "sign", "--key", key, filepath.Join(plugs, "tag", "1.3.0")); code != 0 || !strings.Contains(out, "signed tag 1.3.0") {
		t.Fatalf("sign: %d %s %s", code, out, errs)
	}
	// Signing mistakes are usage errors (exit 2) that say what is wrong.
	for _, bad := range []struct{ key, dir, msg string }{
		{key + ".pub", filepath.Join(plugs, "tag", "1.3.0"), "not a private key file"},
		{filepath.Join(dir, "nokey"), filepath.Join(plugs, "tag", "1.3.0"), "--key: open"},
		{key, dir, "is not a plugin folder"},
	} {
		if code, _, errs := cli(t, reg, "", "plugins", "sign", "--key", bad.key, bad.dir); code != 2 || !strings.Contains(errs, bad.msg) {
			t.Errorf("sign --key %s %s: %d %s, want exit 2 and %q", bad.key, bad.dir, code, errs, bad.msg)
		}
	}

	code, out, errs := cli(t, reg, "", "plugins", plugs, "--trust", key+".pub")
	if code != 0 {
		t.Fatalf("plugins: %d %s", code, errs)
	}
	for _, want := range []string{"tag   2.0.0", "no: needs host API >=3; this pipe has " + stage.APIVersion, "1.3.0    js    yes", "signed by team", "unsigned",
		"mask  0.1.0    wasm  no: kind wasm is not built into this pipe (it has js, native)"} {
		if !strings.Contains(out, want) {
			t.Errorf("pipe plugins lacks %q:\n%s", want, out)
		}
	}
	code, out, _ = cli(t, reg, "", "plugins", "--json", plugs)
	var listing struct {
		HostAPI string `json:"host_api"`
		Plugins []struct {
			Name, Version, SHA256 string
			Compatible            bool
		}
	}
	if err := json.Unmarshal([]byte(out), &listing); err != nil || code != 0 || len(listing.Plugins) != 4 || listing.HostAPI != stage.APIVersion || len(listing.Plugins[0].SHA256) != 64 {
		t.Fatalf("--json: %d %v %s", code, err, out)
	}

	pipeline := filepath.Join(dir, "p.yaml")
	os.WriteFile(pipeline, []byte("plugins: {dirs: [plugins]}\nstages:\n  - {name: t, use: tag@^1}\n"), 0o644)
	audit := filepath.Join(dir, "audit.log")
	code, out, errs = cli(t, reg, "a\n", "run", pipeline, "--audit-log", audit, "--trust", key+".pub")
	if code != 0 || out != "v1.3.0:a\n" {
		t.Fatalf("run: %d %q %s", code, out, errs)
	}
	log, _ := os.ReadFile(audit)
	for _, want := range []string{`"event":"plugin_discovered"`, `"event":"signature_verified"`, `"event":"plugin_loaded"`, `"plugin":"tag"`, `"version":"1.3.0"`, `"sha256":"`} {
		if !strings.Contains(string(log), want) {
			t.Errorf("audit log lacks %s:\n%s", want, log)
		}
	}

	// Tamper with the signed plugin: refused when signatures are required.
	os.WriteFile(filepath.Join(plugs, "tag", "1.3.0", "tag.js"), []byte("evil:"), 0o644)
	code, out, errs = cli(t, reg, "a\n", "run", pipeline, "--trust", key+".pub", "--require-signed", "--audit-log", audit)
	if code != 2 || out != "" || !strings.Contains(errs, "p.yaml:3:") || !strings.Contains(errs, "signatures are required") {
		t.Errorf("tampered plugin: %d %q %s", code, out, errs)
	}
	log, _ = os.ReadFile(audit)
	if !strings.Contains(string(log), `"event":"signature_failed"`) || !strings.Contains(string(log), `"event":"plugin_refused"`) {
		t.Errorf("audit log lacks the refusal:\n%s", log)
	}
	// With an older version signed, the tampered newer one is passed
	// over, but not silently: a warning, and a refusal in the audit log.
	if code, _, errs := cli(t, reg, "", "plugins", "sign", "--key", key, filepath.Join(plugs, "tag", "1.0.0")); code != 0 {
		t.Fatalf("sign 1.0.0: %d %s", code, errs)
	}
	os.Remove(audit)
	code, out, errs = cli(t, reg, "a\n", "run", pipeline, "--trust", key+".pub", "--require-signed", "--audit-log", audit)
	if code != 0 || out != "v1.0.0:a\n" || !strings.Contains(errs, "level=WARN") || !strings.Contains(errs, "version=1.3.0") || !strings.Contains(errs, "signature does not match") {
		t.Errorf("fallback past a tampered version: %d %q %s", code, out, errs)
	}
	log, _ = os.ReadFile(audit)
	if !regexp.MustCompile(`"event":"plugin_refused".*"version":"1.3.0"`).Match(log) || !regexp.MustCompile(`"event":"plugin_loaded".*"version":"1.0.0"`).Match(log) {
		t.Errorf("audit log lacks the refusal of 1.3.0 and the load of 1.0.0:\n%s", log)
	}
	// A kind this binary lacks: refused by name, not as an unknown type.
	os.WriteFile(pipeline, []byte("plugins: {dirs: [plugins]}\nstages:\n  - {name: m, use: mask}\n"), 0o644)
	lintAudit := filepath.Join(dir, "lint-audit.log")
	if code, _, errs := cli(t, reg, "", "lint", pipeline, "--audit-log", lintAudit); code != 2 || !strings.Contains(errs, "p.yaml:3:") || !strings.Contains(errs, "mask 0.1.0 kind wasm is not built into this pipe") {
		t.Errorf("lint plugin of a missing kind: %d %s", code, errs)
	}
	if log, _ := os.ReadFile(lintAudit); !regexp.MustCompile(`"event":"plugin_refused".*"plugin":"mask"`).Match(log) { // lint loads plugins: it audits too
		t.Errorf("pipe lint --audit-log lacks the refusal:\n%s", log)
	}
	// A host API that no version supports.
	os.WriteFile(pipeline, []byte("plugins: {dirs: [plugins]}\nstages:\n  - {name: t, use: tag@^2}\n"), 0o644)
	if code, _, errs := cli(t, reg, "a\n", "lint", pipeline); code != 2 || !strings.Contains(errs, "needs host API >=3") {
		t.Errorf("lint newer API: %d %s", code, errs)
	}
}

// Plugin directories are searched in order: --plugin-dir, the pipeline's
// plugins.dirs, then PIPE_PLUGIN_PATH; the first of two equal versions
// wins, and the highest version satisfying the constraint is picked across
// all of them.
func TestPluginDirOrder(t *testing.T) {
	reg := engine.NewRegistry()
	reg.RegisterKind("js", prefixKind)
	dir := t.TempDir()
	plugin := func(parent, sub, version string) string {
		d := filepath.Join(dir, parent, sub)
		os.MkdirAll(d, 0o755)
		os.WriteFile(filepath.Join(d, "plugin.yaml"), []byte("name: tag\nversion: "+version+"\nkind: js\nentry: tag.js\napi: '^2'\n"), 0o644)
		os.WriteFile(filepath.Join(d, "tag.js"), []byte(parent+"-"+version+":"), 0o644)
		return filepath.Join(dir, parent)
	}
	flagDir := plugin("flag", "tag", "1.0.0")
	fileDir := plugin("file", "tag", "1.0.0")
	plugin("file", "tag-1.1", "1.1.0")
	envDir := plugin("env", "tag", "1.1.0")
	plugin("env", "tag-1.2", "1.2.0")
	t.Setenv("PIPE_PLUGIN_PATH", filepath.Join(dir, "missing")+string(os.PathListSeparator)+envDir)
	pipeline := filepath.Join(dir, "p.yaml")
	run := func(constraint string, args ...string) (int, string, string) {
		os.WriteFile(pipeline, []byte("plugins: {dirs: [file]}\nstages:\n  - {name: t, use: tag@"+constraint+"}\n"), 0o644)
		return cli(t, reg, "a\n", append([]string{"run", pipeline}, args...)...)
	}
	for _, c := range []struct {
		constraint string
		args       []string
		want       string
	}{
		{"~1.0.0", []string{"--plugin-dir", flagDir}, "flag-1.0.0:a\n"}, // the flag's directory first
		{"~1.0.0", nil, "file-1.0.0:a\n"},                               // then the pipeline's
		{"~1.1.0", nil, "file-1.1.0:a\n"},                               // before PIPE_PLUGIN_PATH
		{"^1", []string{"--plugin-dir", flagDir}, "env-1.2.0:a\n"},      // the highest version wins wherever it is
	} {
		code, out, errs := run(c.constraint, c.args...)
		if code != 0 || out != c.want {
			t.Errorf("tag@%s %v: %d %q, want %q\n%s", c.constraint, c.args, code, out, c.want, errs)
		}
		if !strings.Contains(errs, "plugin not usable") || !strings.Contains(errs, "missing") {
			t.Errorf("the missing PIPE_PLUGIN_PATH directory is not reported:\n%s", errs)
		}
	}
	// pipe plugins without DIR lists --plugin-dir and PIPE_PLUGIN_PATH,
	// and names what an earlier directory shadows.
	code, out, errs := cli(t, reg, "", "plugins", "--plugin-dir", fileDir)
	if code != 2 || !strings.Contains(out, filepath.Join(envDir, "tag-1.2")) || !strings.Contains(out, filepath.Join(fileDir, "tag-1.1")) ||
		!strings.Contains(errs, "tag 1.1.0 in "+filepath.Join(envDir, "tag")+" is shadowed") || !strings.Contains(errs, "missing") {
		t.Errorf("pipe plugins: %d\n%s\n%s", code, out, errs)
	}
}

// --watch watches a plugin's manifest and signature as well as its entry,
// also when the entry sits in a subfolder (so a re-signed plugin reloads).
func TestWatchedPluginFiles(t *testing.T) {
	reg := engine.NewRegistry()
	reg.RegisterKind("js", prefixKind)
	dir := t.TempDir()
	d := filepath.Join(dir, "plugins", "tag")
	os.MkdirAll(filepath.Join(d, "lib"), 0o755)
	os.WriteFile(filepath.Join(d, "plugin.yaml"), []byte("name: tag\nversion: 1.0.0\nkind: js\nentry: lib/tag.js\napi: '^2'\n"), 0o644)
	os.WriteFile(filepath.Join(d, "lib", "tag.js"), []byte("x:"), 0o644)
	file := filepath.Join(dir, "p.yaml")
	os.WriteFile(file, []byte("plugins: {dirs: [plugins]}\nstages:\n  - {name: t, use: tag}\n"), 0o644)
	a := &app{stderr: &bytes.Buffer{}, reg: reg, logLevel: "info", logFormat: "text"}
	log, _ := a.logger()
	spec, err := a.parseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := a.build(spec, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(watchedFiles(file, p), "\n")
	for _, want := range []string{file, filepath.Join(d, "lib", "tag.js"), filepath.Join(d, "plugin.yaml"), filepath.Join(d, "plugin.sig")} {
		if !strings.Contains(got, want) {
			t.Errorf("watched files lack %s:\n%s", want, got)
		}
	}
}
