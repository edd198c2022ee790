package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// builds counts the stages trustKind built (to see that nothing loads).
var builds atomic.Int64

// trustKind behaves as the real script kinds do: it resolves path:
// against the pipeline file, reads the entry once, refuses bytes that do
// not match the pin of a resolved plugin, and prefixes records with them.
func trustKind(spec *engine.StageSpec, env *engine.BuildEnv) (engine.Stage, error) {
	builds.Add(1)
	var o struct {
		Allow []string `yaml:"allow"`
	}
	if err := spec.Extra.Decode(&o); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(spec.Resolve(spec.Path))
	if err != nil {
		return nil, spec.Errorf("path", "%v", err)
	}
	if want := spec.PluginSHA256(); want != "" {
		if got := sha256.Sum256(b); hex.EncodeToString(got[:]) != want {
			return nil, spec.Errorf("use", "plugin changed since it was resolved")
		}
	}
	return prefixBytes(b), nil
}

type prefixBytes []byte

func (p prefixBytes) New(context.Context) (engine.Transformer, error) {
	return engine.TransformerFunc(func(_ context.Context, r *engine.Record, emit func(*engine.Record)) error {
		r.Data = append(append([]byte{}, p...), r.Data...)
		emit(r)
		return nil
	}), nil
}

func trustRegistry() *engine.Registry {
	reg := engine.NewRegistry()
	reg.RegisterKind("js", trustKind)
	reg.RegisterKind("wasm", trustKind)
	return reg
}

// writeTag writes a tag plugin (kind js) whose entry is prefix.
func writeTag(t *testing.T, dir, prefix string) string {
	t.Helper()
	d := filepath.Join(dir, "tag", "1.0.0")
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(d, "plugin.yaml"), []byte("name: tag\nversion: 1.0.0\nkind: js\nentry: tag.js\napi: '^2'\n"), 0o644)
	os.WriteFile(filepath.Join(d, "tag.js"), []byte(prefix), 0o644)
	return d
}

// auditEvents reads an audit log.
func auditEvents(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func eventsNamed(evs []map[string]any, name string) []map[string]any {
	var out []map[string]any
	for _, e := range evs {
		if e["event"] == name {
			out = append(out, e)
		}
	}
	return out
}

// TestRelativePipelinePath: `pipe run proj/p.yaml` from the folder above
// proj finds plugins.dirs relative to the pipeline file and runs the very
// file whose signature was checked, not one planted at proj/proj/plugins.
func TestRelativePipelinePath(t *testing.T) {
	reg := trustRegistry()
	root := t.TempDir()
	proj := filepath.Join(root, "proj")
	signed := writeTag(t, filepath.Join(proj, "plugins"), "signed:")
	writeTag(t, filepath.Join(proj, "proj", "plugins"), "planted:") // unsigned, where the old code looked
	key := filepath.Join(root, "team")
	if code, _, errs := cli(t, reg, "", "plugins", "keygen", key, "--name", "team"); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := cli(t, reg, "", "plugins", "sign", "--key", key, signed); code != 0 {
		t.Fatal(errs)
	}
	os.WriteFile(filepath.Join(proj, "p.yaml"), []byte("plugins: {dirs: [plugins]}\nstages:\n  - {name: t, use: tag}\n"), 0o644)
	t.Chdir(root)
	audit := filepath.Join(root, "audit.log")
	code, out, errs := cli(t, reg, "a\n", "run", "proj/p.yaml", "--trust", "team.pub", "--require-signed", "--audit-log", audit)
	if code != 0 || out != "signed:a\n" {
		t.Fatalf("run proj/p.yaml: %d %q %s; want the signed plugin", code, out, errs)
	}
	realSigned, _ := filepath.EvalSymlinks(signed)
	loaded := eventsNamed(auditEvents(t, audit), "plugin_loaded")
	if len(loaded) != 1 || loaded[0]["entry"] != filepath.Join(realSigned, "tag.js") || loaded[0]["signature"] != "signed by team" {
		t.Errorf("plugin_loaded = %v, want the signed entry %s", loaded, filepath.Join(realSigned, "tag.js"))
	}
	// Without a planted file the plugin loads too (the old code failed).
	os.RemoveAll(filepath.Join(proj, "proj"))
	if code, out, errs := cli(t, reg, "b\n", "run", "proj/p.yaml"); code != 0 || out != "signed:b\n" {
		t.Errorf("run proj/p.yaml without the planted copy: %d %q %s", code, out, errs)
	}
}

// TestSymlinkedEntryRefused: an entry that is a symbolic link to a file
// outside its plugin folder is refused, like ../ and absolute entries.
func TestSymlinkedEntryRefused(t *testing.T) {
	reg := trustRegistry()
	dir := t.TempDir()
	d := writeTag(t, filepath.Join(dir, "plugins"), "ok:")
	outside := filepath.Join(dir, "outside.js")
	os.WriteFile(outside, []byte("evil:"), 0o644)
	os.Remove(filepath.Join(d, "tag.js"))
	if err := os.Symlink(outside, filepath.Join(d, "tag.js")); err != nil {
		t.Fatal(err)
	}
	code, _, errs := cli(t, reg, "", "plugins", filepath.Join(dir, "plugins"))
	if code != 2 || !strings.Contains(errs, "outside the plugin folder: refused") {
		t.Errorf("pipe plugins: %d %s; want exit 2 naming the symlink", code, errs)
	}
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte("plugins: {dirs: [plugins]}\nstages:\n  - {name: t, use: tag}\n"), 0o644)
	audit := filepath.Join(dir, "audit.log")
	code, out, errs := cli(t, reg, "a\n", "run", p, "--audit-log", audit)
	if code != 2 || out != "" || !strings.Contains(errs, "outside the plugin folder") {
		t.Errorf("run: %d %q %s; want it refused (exit 2)", code, out, errs)
	}
	refused := eventsNamed(auditEvents(t, audit), "plugin_refused")
	if len(refused) == 0 || !strings.Contains(refused[0]["reason"].(string), "outside the plugin folder") {
		t.Errorf("plugin_refused events: %v", refused)
	}
}

// TestTamperedPluginWarns: with trusted keys but signatures not required,
// a plugin whose signature no longer matches runs, with a WARN line and a
// plugin_signature_mismatch event; --require-signed refuses it.
func TestTamperedPluginWarns(t *testing.T) {
	reg := trustRegistry()
	dir := t.TempDir()
	d := writeTag(t, filepath.Join(dir, "plugins"), "v1:")
	key := filepath.Join(dir, "team")
	cli(t, reg, "", "plugins", "keygen", key)
	if code, _, errs := cli(t, reg, "", "plugins", "sign", "--key", key, d); code != 0 {
		t.Fatal(errs)
	}
	os.WriteFile(filepath.Join(d, "tag.js"), []byte("evil:"), 0o644)
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte("plugins: {dirs: [plugins]}\nstages:\n  - {name: t, use: tag}\n"), 0o644)
	audit := filepath.Join(dir, "audit.log")
	code, out, errs := cli(t, reg, "a\n", "run", p, "--trust", key+".pub", "--audit-log", audit)
	if code != 0 || out != "evil:a\n" {
		t.Fatalf("run: %d %q %s", code, out, errs)
	}
	if !strings.Contains(errs, "level=WARN") || !strings.Contains(errs, "plugin signature does not match its files") {
		t.Errorf("stderr lacks the warning:\n%s", errs)
	}
	ev := eventsNamed(auditEvents(t, audit), "plugin_signature_mismatch")
	if len(ev) != 1 || ev[0]["plugin"] != "tag" || !strings.Contains(ev[0]["reason"].(string), "tag.js: sha256") {
		t.Errorf("plugin_signature_mismatch events: %v", ev)
	}
	code, out, errs = cli(t, reg, "a\n", "run", p, "--trust", key+".pub", "--require-signed")
	if code != 2 || out != "" || !strings.Contains(errs, "signatures are required") {
		t.Errorf("--require-signed: %d %q %s; want it refused", code, out, errs)
	}
}

// TestAuditLogUnwritable: an audit log that cannot be written stops the
// run with exit 2 before any stage is built (so before any plugin loads).
func TestAuditLogUnwritable(t *testing.T) {
	reg := trustRegistry()
	dir := t.TempDir()
	writeTag(t, filepath.Join(dir, "plugins"), "x:")
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte("plugins: {dirs: [plugins]}\nstages:\n  - {name: t, use: tag}\n"), 0o644)
	for _, path := range []string{"/dev/full", dir, filepath.Join(dir, "no", "such", "dir", "audit.log")} {
		if path == "/dev/full" {
			if _, err := os.Stat(path); err != nil {
				t.Log("no /dev/full here")
				continue
			}
		}
		before := builds.Load()
		code, out, errs := cli(t, reg, "a\n", "run", p, "--audit-log", path)
		if code != 2 || out != "" || !strings.Contains(errs, "--audit-log") {
			t.Errorf("--audit-log %s: %d %q %s; want exit 2", path, code, out, errs)
		}
		if builds.Load() != before {
			t.Errorf("--audit-log %s: a stage was built before the audit log failed", path)
		}
	}
}

// failingWriter accepts n writes, then fails.
type failingWriter struct{ n int }

func (w *failingWriter) Write(b []byte) (int, error) {
	if w.n <= 0 {
		return 0, errors.New("no space left on device")
	}
	w.n--
	return len(b), nil
}

func (w *failingWriter) Close() error { return nil }

// TestAuditLogWriteFailureIsLoud: a write that fails after the start is
// an error line, a metric, and exit 1 at the end of a run that otherwise
// succeeded.
func TestAuditLogWriteFailureIsLoud(t *testing.T) {
	reg := trustRegistry()
	dir := t.TempDir()
	writeTag(t, filepath.Join(dir, "plugins"), "x:")
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte("plugins: {dirs: [plugins]}\nstages:\n  - {name: t, use: tag}\n"), 0o644)
	saved := openAuditFile
	defer func() { openAuditFile = saved }()
	openAuditFile = func(string) (io.WriteCloser, error) { return &failingWriter{n: 1}, nil } // audit_opened only
	before := auditWriteErrors.Load()
	code, out, errs := cli(t, reg, "a\n", "run", p, "--audit-log", filepath.Join(dir, "audit.log"))
	if out != "x:a\n" {
		t.Errorf("output %q: the run itself should go on", out)
	}
	if code != 1 || !strings.Contains(errs, "level=ERROR") || !strings.Contains(errs, "audit log write failed") || !strings.Contains(errs, "events could not be written") {
		t.Errorf("exit %d, stderr:\n%s\nwant an error line and exit 1", code, errs)
	}
	if got := auditWriteErrors.Load() - before; got < 1 {
		t.Errorf("pipe_audit_write_errors_total grew by %v", got)
	}
}

// TestSandboxRelaxedAudited: a stage that opts out of its sandbox
// (allow: [...]) writes a sandbox_relaxed event; one that does not, none.
func TestSandboxRelaxedAudited(t *testing.T) {
	reg := trustRegistry()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "m.wasm"), []byte("m:"), 0o644)
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte("stages:\n  - {name: w, type: wasm, path: m.wasm, allow: [clock, random]}\n  - {name: plain, type: wasm, path: m.wasm}\n  - {name: lua, type: js, path: m.wasm, allow: [os, io]}\n"), 0o644)
	audit := filepath.Join(dir, "audit.log")
	if code, out, errs := cli(t, reg, "a\n", "run", p, "--audit-log", audit); code != 0 || out != "m:m:m:a\n" {
		t.Fatalf("run: %d %q %s", code, out, errs)
	}
	ev := eventsNamed(auditEvents(t, audit), "sandbox_relaxed")
	if len(ev) != 2 {
		t.Fatalf("sandbox_relaxed events: %v, want w and lua", ev)
	}
	if ev[0]["stage"] != "w" || ev[0]["kind"] != "wasm" || ev[0]["field"] != "allow" || !strings.Contains(jsonOf(ev[0]["allow"]), `["clock","random"]`) {
		t.Errorf("event %v", ev[0])
	}
	if ev[1]["stage"] != "lua" || !strings.Contains(jsonOf(ev[1]["allow"]), `["os","io"]`) {
		t.Errorf("event %v", ev[1])
	}
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestPluginsVerify: pipe plugins verify prints what is signed, by whom
// and what differs, and exits 1 when anything fails (2 without --trust).
func TestPluginsVerify(t *testing.T) {
	reg := trustRegistry()
	dir := t.TempDir()
	plugs := filepath.Join(dir, "plugins")
	good := writeTag(t, filepath.Join(plugs, "a"), "good:")
	bad := writeTag(t, filepath.Join(plugs, "b"), "v1:")
	writeTag(t, filepath.Join(plugs, "c"), "unsigned:")
	key, other := filepath.Join(dir, "team"), filepath.Join(dir, "other")
	cli(t, reg, "", "plugins", "keygen", key, "--name", "team")
	cli(t, reg, "", "plugins", "keygen", other, "--name", "other")
	for _, d := range []string{good, bad} {
		if code, _, errs := cli(t, reg, "", "plugins", "sign", "--key", key, d); code != 0 {
			t.Fatal(errs)
		}
	}
	// One plugin folder, signed and intact.
	code, out, errs := cli(t, reg, "", "plugins", "verify", "--trust", key+".pub", good)
	if code != 0 || !strings.Contains(out, "OK   tag 1.0.0") || !strings.Contains(out, "signed by team (SHA256:") ||
		!strings.Contains(out, "  plugin.yaml") || !strings.Contains(out, "  tag.js") {
		t.Errorf("verify good: %d\n%s%s", code, out, errs)
	}
	// Tampered: what differs.
	os.WriteFile(filepath.Join(bad, "tag.js"), []byte("evil:"), 0o644)
	code, out, _ = cli(t, reg, "", "plugins", "verify", "--trust", key+".pub", bad)
	if code != 1 || !strings.Contains(out, "FAIL tag 1.0.0") || !strings.Contains(out, "differs  tag.js: sha256 ") || !strings.Contains(out, "signed by team") {
		t.Errorf("verify tampered: %d\n%s", code, out)
	}
	// Directories of plugins: the unsigned one fails too.
	code, out, _ = cli(t, reg, "", "plugins", "verify", "--trust", key+".pub", filepath.Join(plugs, "a"), filepath.Join(plugs, "b"), filepath.Join(plugs, "c"))
	if code != 1 || strings.Count(out, "FAIL") != 2 || strings.Count(out, "OK ") != 1 || !strings.Contains(out, "unsigned: no plugin.sig") {
		t.Errorf("verify dir: %d\n%s", code, out)
	}
	// Signed, but by a key that is not trusted.
	code, out, _ = cli(t, reg, "", "plugins", "verify", "--trust", other+".pub", good)
	if code != 1 || !strings.Contains(out, "not a trusted key") || !strings.Contains(out, "(not trusted)") {
		t.Errorf("verify with another key: %d\n%s", code, out)
	}
	// Usage.
	if code, _, errs := cli(t, reg, "", "plugins", "verify", good); code != 2 || !strings.Contains(errs, "needs --trust") {
		t.Errorf("verify without --trust: %d %s", code, errs)
	}
	if code, out, _ := cli(t, reg, "", "plugins", "verify", "--trust", key+".pub", filepath.Join(dir, "nothing")); code != 1 || !strings.Contains(out, "FAIL") {
		t.Errorf("verify of an empty path: %d %s", code, out)
	}
}

// TestPluginsVerifyJSON: --json prints one object per plugin, for scripts.
func TestPluginsVerifyJSON(t *testing.T) {
	reg := trustRegistry()
	dir := t.TempDir()
	d := writeTag(t, filepath.Join(dir, "plugins"), "x:")
	key := filepath.Join(dir, "team")
	cli(t, reg, "", "plugins", "keygen", key, "--name", "team")
	cli(t, reg, "", "plugins", "sign", "--key", key, d)
	os.WriteFile(filepath.Join(d, "tag.js"), []byte("evil:"), 0o644)
	code, out, errs := cli(t, reg, "", "plugins", "verify", "--json", "--trust", key+".pub", filepath.Join(dir, "plugins"))
	var res []struct {
		Name     string            `json:"name"`
		OK       bool              `json:"ok"`
		SignedBy string            `json:"signed_by"`
		Trusted  bool              `json:"trusted"`
		Signed   map[string]string `json:"signed"`
		Differs  []string          `json:"differs"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 1 {
		t.Fatalf("verify --json: %d %v\n%s%s", code, err, out, errs)
	}
	if len(res) != 1 || res[0].Name != "tag" || res[0].OK || res[0].SignedBy != "team" || !res[0].Trusted || len(res[0].Signed) != 2 ||
		len(res[0].Differs) != 1 || !strings.HasPrefix(res[0].Differs[0], "tag.js: sha256 ") {
		t.Errorf("verify --json = %+v", res)
	}
}
