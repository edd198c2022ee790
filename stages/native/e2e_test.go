package native_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

var soFence = regexp.MustCompile("(?s)```(go so-plugin|sh so-build|yaml so-pipeline|text so-input|text so-output)\n(.*?)```")

// readmePlugin returns the blocks of README.md's plugin example by name.
func readmePlugin(t *testing.T) map[string]string {
	md, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := map[string]string{}
	for _, m := range soFence.FindAllStringSubmatch(string(md), -1) {
		blocks[m[1]] = m[2]
	}
	if len(blocks) != 5 {
		t.Fatalf("README.md has %d of the 5 blocks of the plugin example", len(blocks))
	}
	return blocks
}

// buildREADMEPlugin writes the README's plugin into a module of its own
// (requiring this checkout of pipe) and builds it with the README's
// command, adding -race for a -race host; it returns the module directory.
func buildREADMEPlugin(t *testing.T, race bool) string {
	b := readmePlugin(t)
	dir := filepath.Join(buildDir, "shout"+map[bool]string{true: "-race", false: ""}[race])
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "shout.so")); err == nil {
		return dir
	}
	sum, err := os.ReadFile(filepath.Join(root, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	mod := "module example.com/shout\n\ngo 1.26.0\n\nrequire github.com/pipe-dev/pipe v0.0.0\n\nreplace github.com/pipe-dev/pipe => " + root + "\n"
	for name, data := range map[string]string{"go.mod": mod, "go.sum": string(sum), "main.go": b["go so-plugin"]} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmdline := strings.TrimSpace(b["sh so-build"])
	if race {
		cmdline = strings.Replace(cmdline, "-buildmode=plugin", "-buildmode=plugin -race", 1)
	}
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, out)
	}
	return dir
}

// TestREADMEPlugin builds the README's plugin with the README's command
// and runs the README's pipeline on its input.
func TestREADMEPlugin(t *testing.T) {
	b := readmePlugin(t)
	dir := buildREADMEPlugin(t, raceTests)
	file := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(file, []byte(b["yaml so-pipeline"]), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := engine.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var out bytes.Buffer
	if err := p.RunReader(context.Background(), strings.NewReader(b["text so-input"]), &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != b["text so-output"] {
		t.Errorf("output:\n%s\nREADME says:\n%s", out.String(), b["text so-output"])
	}
}

// TestInstalledPipe: a pipe built by go install (cgo on, no -race) loads
// plugins built by the documented command, in a pipeline file, in filter
// mode and from a plugin directory; it refuses mismatched plugins with
// exit status 2 before plugin.Open, naming both versions; a pipe built
// without cgo says it cannot load plugins.
func TestInstalledPipe(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pipe and plugins without -race (-short)")
	}
	bin := filepath.Join(buildDir, "bin")
	root, _ := filepath.Abs("../..")
	buildOnce(t, filepath.Join(bin, "pipe"), root, "env", "GOBIN="+bin, "CGO_ENABLED=1", "go", "install", "./cmd/pipe")
	pipe := filepath.Join(bin, "pipe")
	nocgo := filepath.Join(buildDir, "nocgo", "pipe")
	buildOnce(t, nocgo, root, "env", "CGO_ENABLED=0", "go", "build", "-o", nocgo, "./cmd/pipe")
	shout := filepath.Join(buildREADMEPlugin(t, false), "shout.so")
	cases := plugin(t, "cases", raceTests)  // without -race
	raced := plugin(t, "cases", !raceTests) // with -race
	mismatch := modMismatch(t, false)       // yaml.v3 v3.0.0 instead of v3.0.1
	dir := t.TempDir()
	plugdir := filepath.Join(dir, "plugins", "shouter")
	if err := os.MkdirAll(plugdir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyFile(t, cases, filepath.Join(plugdir, "cases.so"), -1)
	os.WriteFile(filepath.Join(plugdir, "plugin.yaml"), []byte("name: shouter\nversion: 1.0.0\nkind: native\nentry: cases.so\napi: '>=2.0, <3'\n"), 0o644)
	pipeline := func(name, stage string) string {
		f := filepath.Join(dir, name)
		os.WriteFile(f, []byte("stages:\n  - "+stage+"\n"), 0o644)
		return f
	}
	tests := []struct {
		name string
		args []string
		in   string
		code int
		want string // stdout ("": not checked), or a part of stderr if code != 0
	}{
		{"pipeline file", []string{"run", pipeline("ok.yaml", "{name: s, type: native, path: '"+shout+"', config: {suffix: '!'}}")}, "a\nb\n", 0, "A!\nB!\n"},
		{"filter mode", []string{"run", "--native", shout, "--config", "suffix=?", "--native", cases, "--config", "case=split"}, "a,b\n", 0, "A\nB?\n"},
		{"plugin directory", []string{"run", "--plugin-dir", filepath.Join(dir, "plugins"), pipeline("dir.yaml", "{name: s, use: shouter, config: {case: upper}}")}, "x\n", 0, "X\n"},
		{"lint", []string{"lint", pipeline("ok2.yaml", "{name: s, type: native, path: '"+shout+"'}")}, "", 0, ""},
		{"other module version", []string{"lint", pipeline("mm.yaml", "{name: s, type: native, path: '"+mismatch+"'}")}, "", 2,
			"gopkg.in/yaml.v3: plugin has v3.0.0 (h1:"},
		{"other module version names the host's", []string{"lint", pipeline("mm2.yaml", "{name: s, type: native, path: '"+mismatch+"'}")}, "", 2,
			"pipe has v3.0.1 (h1:"},
		{"-race plugin", []string{"run", "--native", raced}, "x\n", 2, "built with -race, but this pipe was built without it"},
		{"not a plugin", []string{"run", "--native", pipe}, "x\n", 2, "a Go program (built with -buildmode=exe), not a plugin"},
		{"pipe without cgo", []string{"!nocgo", "run", "--native", cases}, "x\n", 2, "this pipe was built without cgo (CGO_ENABLED=0), and Go plugins need it"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bin, args := pipe, tt.args
			if args[0] == "!nocgo" {
				bin, args = nocgo, args[1:]
			}
			cmd := exec.Command(bin, args...)
			cmd.Stdin = strings.NewReader(tt.in)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstderr: %s", code, tt.code, stderr.String())
			}
			if tt.code == 0 && tt.want != "" && stdout.String() != tt.want {
				t.Errorf("stdout %q, want %q\nstderr: %s", stdout.String(), tt.want, stderr.String())
			}
			if tt.code != 0 && !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr lacks %q:\n%s", tt.want, stderr.String())
			}
		})
	}
}
