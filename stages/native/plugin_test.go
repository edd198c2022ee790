package native_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
	"github.com/pipe-dev/pipe/stage"
	"github.com/pipe-dev/pipe/stages/native"
)

// TestPluginConformance runs the conformance suite through a Go plugin,
// with Transform and with the BatchTransformer fast path.
func TestPluginConformance(t *testing.T) {
	so := plugin(t, "cases", false)
	reg := engine.NewRegistry()
	reg.SetPluginLoader(native.LoadPlugin)
	for _, batch := range []bool{false, true} {
		name := map[bool]string{false: "transform", true: "batch"}[batch]
		t.Run(name, func(t *testing.T) {
			enginetest.Run(t, func(t *testing.T, c enginetest.Case) engine.StageSpec {
				return engine.StageSpec{Type: "native", Path: so,
					Config: engine.ConfigOf(map[string]any{"case": string(c), "batch": batch})}
			}, enginetest.Options{Registry: reg})
		})
	}
}

// load builds and loads a one-stage pipeline file (in dir) whose stage is
// the given YAML flow mapping, and returns the pipeline or the error.
func load(t *testing.T, dir, stage string) (*engine.Pipeline, error) {
	t.Helper()
	file := filepath.Join(dir, "pipeline.yaml")
	yaml := "stages:\n  - " + stage + "\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	spec, err := engine.Parse([]byte(yaml), file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec)
	if err == nil {
		if err = p.Load(context.Background()); err != nil {
			p.Close()
		}
	}
	return p, err
}

func runP(t *testing.T, p *engine.Pipeline, in string) (string, error) {
	t.Helper()
	defer p.Close()
	var out bytes.Buffer
	err := p.RunReader(context.Background(), strings.NewReader(in), &out)
	return out.String(), err
}

func copyFile(t *testing.T, from, to string, n int) string {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if n >= 0 {
		b = b[:n]
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return to
}

// TestPluginBadInput: files that are not plugins, plugins built wrongly
// and plugins that misbehave are configuration errors at the stage's
// path: (or config:) field, exit status 2, and never crash the host.
func TestPluginBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := plugin(t, "cases", false)
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name   string
		file   func(t *testing.T) string
		config string
		kind   error // nil: an error of the constructor, at config:
		want   []string
	}{
		{"missing file", func(*testing.T) string { return filepath.Join(dir, "nope.so") }, "", native.ErrNotPlugin,
			[]string{"cannot read", "no such file"}},
		{"empty file", func(*testing.T) string { return write("empty.so", "") }, "", native.ErrNotPlugin,
			[]string{"an empty file"}},
		{"not ELF", func(*testing.T) string { return write("text.so", "hello, I am text\n") }, "", native.ErrNotPlugin,
			[]string{"not an ELF file", "-buildmode=plugin"}},
		{"wasm module", func(*testing.T) string { return write("mod.so", "\x00asm\x01\x00\x00\x00") }, "", native.ErrNotPlugin,
			[]string{"WebAssembly", "type: wasm"}},
		{"ELF header only", func(t *testing.T) string { return copyFile(t, cases, filepath.Join(dir, "head.so"), 64) }, "", native.ErrNotPlugin,
			[]string{"truncated or corrupt ELF file"}},
		{"truncated plugin", func(t *testing.T) string {
			st, _ := os.Stat(cases)
			return copyFile(t, cases, filepath.Join(dir, "half.so"), int(st.Size()/2))
		}, "", native.ErrNotPlugin, []string{"truncated"}},
		{"shared object built by gcc", func(t *testing.T) string {
			if _, err := exec.LookPath("gcc"); err != nil {
				t.Skip("gcc not installed (cgo, and so Go plugins, need it too)")
			}
			out := filepath.Join(dir, "notgo.so")
			return buildOnce(t, out, ".", "gcc", "-shared", "-fPIC", "-o", out, "testdata/c/notgo.c")
		}, "", native.ErrNotPlugin, []string{"not built by Go", "go build -buildmode=plugin"}},
		{"Go program", func(t *testing.T) string {
			out := filepath.Join(buildDir, "program")
			return buildOnce(t, out, ".", "go", "build", "-o", out, "./testdata/plugins/program")
		}, "", native.ErrNotPlugin, []string{"a Go program (built with -buildmode=exe), not a plugin", "rebuild it with: go build -buildmode=plugin"}},
		{"other -race flag", func(t *testing.T) string { return plugin(t, "cases", true) }, "", native.ErrMismatch,
			[]string{"-race", "the flag must be the same on both", "rebuild it with: go build -buildmode=plugin"}},
		{"other module version (found by plugin.Open in a test binary)", func(t *testing.T) string {
			return modMismatch(t, raceTests)
		}, "", native.ErrMismatch, []string{"different version of package", "rebuild it with"}},
		{"no constructor", func(t *testing.T) string { return plugin(t, "nonew", false) }, "", native.ErrBadPlugin,
			[]string{"exports no New", "func New(cfg stage.Config) (stage.Transformer, error)"}},
		{"no host API version", func(t *testing.T) string { return plugin(t, "noapi", false) }, "", native.ErrBadPlugin,
			[]string{"exports no PipeAPIVersion; add: var PipeAPIVersion = stage.APIVersion"}},
		{"constructor of the wrong type", func(t *testing.T) string { return plugin(t, "wrongnew", false) }, "", native.ErrBadPlugin,
			[]string{"New is a func(map[string]interface {}) (interface {}, error), want func(stage.Config) (stage.Transformer, error)"}},
		{"other host API", func(t *testing.T) string { return plugin(t, "badapi", false) }, "", native.ErrBadPlugin,
			[]string{"built against host API 3.0.0, but this pipe has host API " + stage.APIVersion}},
		{"written for host API 1", func(t *testing.T) string { return oldAPI(t, raceTests) }, "", native.ErrBadPlugin,
			[]string{"written for host API 1", "links package github.com/pipe-dev/pipe/engine", "import it instead of engine",
				"func New(cfg stage.Config) (stage.Transformer, error)", "rebuild it with: go build -buildmode=plugin"}},
		{"init panics", func(t *testing.T) string { return plugin(t, "initpanic", false) }, "", native.ErrBadPlugin,
			[]string{"an init function panicked: initpanic: init fails"}},
		{"constructor fails", func(*testing.T) string { return cases }, "{case: ctor_error}", nil,
			[]string{"the constructor refuses"}},
		{"constructor panics", func(*testing.T) string { return cases }, "{case: ctor_panic}", native.ErrPanic,
			[]string{"New panicked: the constructor panics"}},
		{"constructor returns nothing", func(*testing.T) string { return cases }, "{case: nil}", nil,
			[]string{"New returned no transformer and no error"}},
		{"unknown config field", func(*testing.T) string { return cases }, "{case: upper, colour: red}", nil,
			[]string{"colour"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.file(t)
			stage := "{name: p, type: native, path: '" + path + "'"
			if tt.config != "" {
				stage += ", config: " + tt.config
			}
			_, err := load(t, dir, stage+"}")
			if err == nil {
				t.Fatal("loaded")
			}
			var ce *engine.ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("%T is not a *engine.ConfigError: %v", err, err)
			}
			// Positioned at path:'s value (col 35) or config:'s (after it).
			if ce.Line != 2 || (tt.config == "") != (ce.Col == 35) {
				t.Errorf("error at %d:%d, want the stage's %s field: %v", ce.Line, ce.Col, map[bool]string{true: "path", false: "config"}[tt.config == ""], err)
			}
			if tt.kind != nil && !errors.Is(err, tt.kind) {
				t.Errorf("errors.Is(err, %v) is false: %v", tt.kind, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
	// After all that, the host still loads and runs a good plugin.
	p, err := load(t, dir, "{name: p, type: native, path: '"+cases+"', config: {case: upper}}")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runP(t, p, "ok\n"); err != nil || out != "OK\n" {
		t.Fatalf("got %q, %v", out, err)
	}
}

// oldAPI builds testdata/oldapi, a plugin written for host API 1 (its
// New takes an engine.Config).
func oldAPI(t *testing.T, race bool) string {
	out := filepath.Join(buildDir, "oldapi"+map[bool]string{true: "-race", false: ""}[race]+".so")
	args := []string{"go", "build", "-buildmode=plugin"}
	if race {
		args = append(args, "-race")
	}
	return buildOnce(t, out, "testdata/oldapi", append(args, "-o", out, ".")...)
}

// modMismatch builds testdata/modmismatch, a plugin built against another
// version of gopkg.in/yaml.v3 than pipe (fetched through the module proxy
// once, then from the module cache).
func modMismatch(t *testing.T, race bool) string {
	out := filepath.Join(buildDir, "modmismatch"+map[bool]string{true: "-race", false: ""}[race]+".so")
	args := []string{"go", "build", "-buildmode=plugin"}
	if race {
		args = append(args, "-race")
	}
	return buildOnce(t, out, "testdata/modmismatch", append(args, "-o", out, ".")...)
}

// TestPluginPanicInTransform: a panic in a plugin's Transform fails that
// record only, under the stage's on_error policy.
func TestPluginPanicInTransform(t *testing.T) {
	so := plugin(t, "cases", false)
	for _, batch := range []string{"false", "true"} {
		t.Run("batch="+batch, func(t *testing.T) {
			p, err := load(t, t.TempDir(), "{name: p, type: native, path: '"+so+"', on_error: drop, config: {case: panic, batch: "+batch+"}}")
			if err != nil {
				t.Fatal(err)
			}
			out, err := runP(t, p, "a\nboom\nb\n")
			if err != nil || out != "a\nb\n" {
				t.Fatalf("got %q, %v", out, err)
			}
			p, err = load(t, t.TempDir(), "{name: p, type: native, path: '"+so+"', config: {case: panic, batch: "+batch+"}}")
			if err != nil {
				t.Fatal(err)
			}
			_, err = runP(t, p, "a\nboom\nb\n")
			if !errors.Is(err, native.ErrPanic) || !strings.Contains(err.Error(), "boom in Transform") {
				t.Fatalf("err = %v, want the panic as the record's error", err)
			}
		})
	}
}

// TestPluginLoadedOnce: a .so is loaded once per process and shared, also
// under another name; a file changed after loading is refused.
func TestPluginLoadedOnce(t *testing.T) {
	dir := t.TempDir()
	so := plugin(t, "cases", false)
	other := copyFile(t, so, filepath.Join(dir, "copy.so"), -1)
	// Loads at the same time (two pipelines starting together) share one.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { _, errs[i] = native.LoadPlugin(context.Background(), so) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	f1, err := native.LoadPlugin(context.Background(), so)
	if err != nil {
		t.Fatal(err)
	}
	f2, err := native.LoadPlugin(context.Background(), other)
	if err != nil {
		t.Fatalf("the same plugin under another name: %v", err)
	}
	if f1 == nil || f2 == nil {
		t.Fatal("no constructor")
	}
	// Two stages and two workers share the one load.
	p, err := load(t, dir, "{name: a, type: native, path: copy.so, workers: 2, config: {case: upper}}\n"+
		"  - {name: b, type: native, path: '"+so+"', config: {case: split}}")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := runP(t, p, "x,y\n"); err != nil || out != "X\nY\n" {
		t.Fatalf("got %q, %v", out, err)
	}
	// Another build of the same main package (another file, the same
	// package path): Go refuses to load it next to the first.
	variant := filepath.Join(buildDir, "cases-variant.so")
	args := []string{"go", "build", "-buildmode=plugin", "-ldflags=-X=main.variant=b"}
	if raceTests {
		args = append(args, "-race")
	}
	buildOnce(t, variant, ".", append(args, "-o", variant, "./testdata/plugins/cases")...)
	_, err = native.LoadPlugin(context.Background(), variant)
	if !errors.Is(err, native.ErrBadPlugin) || !strings.Contains(err.Error(), "another plugin with the same package path (github.com/pipe-dev/pipe/stages/native/testdata/plugins/cases) is already loaded") {
		t.Fatalf("err = %v, want the package path named", err)
	}
	// Changing a loaded file: refused, nothing reloaded.
	if err := os.WriteFile(other, []byte("changed"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err = native.LoadPlugin(context.Background(), other)
	if !errors.Is(err, native.ErrChanged) || !strings.Contains(err.Error(), "restart pipe") {
		t.Fatalf("err = %v, want ErrChanged", err)
	}
}

// TestPluginOtherGoVersion loads a real plugin built by another Go release
// (go1.26.7 unless NATIVE_OTHER_GO says otherwise), taken from the module
// cache: make fixtures fetches it once through the module proxy
// (GOTOOLCHAIN=go1.26.7 go version). Without it the test is skipped and
// says so; TestCheckBuild covers the comparison on values regardless.
func TestPluginOtherGoVersion(t *testing.T) {
	other := os.Getenv("NATIVE_OTHER_GO")
	if other == "" {
		other = "go1.26.7"
	}
	if other == runtime.Version() {
		t.Skipf("NATIVE_OTHER_GO=%s is this Go's version; set another", other)
	}
	out := filepath.Join(buildDir, "nonew-"+other+".so")
	args := []string{"build", "-buildmode=plugin"}
	if raceTests {
		args = append(args, "-race")
	}
	cmd := exec.Command("go", append(args, "-o", out, "./testdata/plugins/nonew")...)
	cmd.Env = append(os.Environ(), "GOTOOLCHAIN="+other, "GOPROXY=off")
	if b, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(b), "toolchain") || strings.Contains(string(b), "GOPROXY=off") {
			t.Skipf("Go %s is not in the module cache (fetch it with: GOTOOLCHAIN=%s go version): %s", other, other, b)
		}
		t.Fatalf("building with %s: %v\n%s", other, err, b)
	}
	_, err := load(t, t.TempDir(), "{name: p, type: native, path: '"+out+"'}")
	if !errors.Is(err, native.ErrMismatch) {
		t.Fatalf("err = %v, want ErrMismatch", err)
	}
	for _, w := range []string{"built with Go " + other + ", but this pipe with Go " + runtime.Version(), "GOTOOLCHAIN=" + runtime.Version() + " go build -buildmode=plugin"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}
