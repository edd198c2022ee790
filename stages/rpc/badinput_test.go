package rpc_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
)

// writePipeline writes a one-stage pipeline whose stage fields are stage
// (YAML flow mapping entries) and returns its path.
func writePipeline(t *testing.T, stage string) string {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "pipeline.yaml")
	yaml := "input: {codec: lines}\nstages:\n  - name: plug\n    type: rpc\n" + stage + "\n"
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestBadPlugins checks that a path or binary that is not a working plugin
// is a configuration error (exit 2) at lint time, naming file:line:col.
func TestBadPlugins(t *testing.T) {
	notExec := filepath.Join(t.TempDir(), "plugin.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := plugin("cases")
	tests := []struct {
		name  string
		stage string
		at    string // line:col of the error
		want  []string
	}{
		{"missing", "    path: " + filepath.Join(bin, "nope"), "5:11", []string{"no such file"}},
		{"not_executable", "    path: " + notExec, "5:11", []string{"is not executable"}},
		{"directory", "    path: " + bin, "5:11", []string{"is a directory"}},
		{"prints_nothing", "    path: " + cases + "\n    args: [nothing]", "5:11", []string{"exited without writing the go-plugin handshake line"}},
		{"crashes_on_start", "    path: " + cases + "\n    args: [crashstart]", "5:11", []string{"not a pipe rpc plugin", "license file missing"}},
		{"garbage_on_stdout", "    path: " + cases + "\n    args: [garbage]", "5:11", []string{`wrote "hello, I am not a plugin" on stdout`}},
		{"empty_line_on_stdout", "    path: " + cases + "\n    args: [emptyline]", "5:11", []string{"wrote an empty line on stdout"}},
		{"wrong_cookie", "    path: " + cases + "\n    args: [wrongcookie]", "5:11", []string{"not a pipe rpc plugin", "not meant to be executed directly"}},
		{"wrong_protocol_version", "    path: " + cases + "\n    args: [wrongproto]", "5:11", []string{"protocol version 1", "Plugin version: 99"}},
		{"hangs_on_start", "    path: " + cases + "\n    args: [hangstart]\n    start_timeout: 500ms", "5:11", []string{"no go-plugin handshake line on stdout within start_timeout"}},
		{"sha256_mismatch", "    path: " + cases + "\n    args: [identity]\n    sha256: " + strings.Repeat("ab", 32), "7:13", []string{"the stage pins abab", "refusing to start it"}},
		{"config_rejected", "    path: " + cases + "\n    args: [strict]\n    config: {n: 0}", "7:13", []string{"rejected its config: n must be a positive integer"}},
		{"config_unknown_field", "    path: " + cases + "\n    args: [strict]\n    config: {m: 1}", "7:13", []string{"rejected its config", `unknown field "m"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := writePipeline(t, tc.stage)
			enginetest.CheckLoadError(t, file, tc.at, tc.want...)
		})
	}
}

// TestBadStageFields checks the rpc kind's own fields at build time.
func TestBadStageFields(t *testing.T) {
	cases := plugin("cases")
	tests := []struct{ stage, want string }{
		{"    code: x", "not code:"},
		{"    args: [a]", "needs path: EXECUTABLE"},
		{"    path: " + cases + "\n    sha256: xyz", "sha256 must be 64 hex digits"},
		{"    path: " + cases + "\n    argz: [a]", `unknown field "argz" (did you mean "args"?)`},
		{"    path: " + cases + "\n    start_timeout: 0s", "start_timeout must be positive"},
		{"    path: " + cases + "\n    max_restarts: -1", "max_restarts must not be negative"},
		{"    path: " + cases + "\n    env: {\"A=B\": x}", "invalid environment variable name"},
	}
	pos := regexp.MustCompile(`^.*pipeline\.yaml:\d+:\d+: `)
	for _, tc := range tests {
		_, err := engine.Load(writePipeline(t, tc.stage))
		var ce *engine.ConfigError
		if !errors.As(err, &ce) || !pos.MatchString(err.Error()) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want a positioned config error containing %q", tc.stage, err, tc.want)
		}
	}
}

// TestRelativePluginPath: a plugin next to a pipeline file named relative
// to the working directory (`pipe run p.yaml` with path: plug or ./plug) is
// run as that file, not looked up in $PATH.
func TestRelativePluginPath(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(plugin("cases"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "plug"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, path := range []string{"plug", "./plug"} {
		yaml := "stages:\n  - {name: p, type: rpc, path: " + path + ", args: [upper]}\n"
		if err := os.WriteFile("p.yaml", []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
		p, err := engine.Load("p.yaml")
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		err = p.RunReader(context.Background(), strings.NewReader("a\n"), &out)
		p.Close()
		if err != nil || out.String() != "A\n" {
			t.Errorf("path: %s: out %q, err %v", path, out.String(), err)
		}
	}
}

// TestWrapperHangsOnStart: a wrapper script whose child never writes the
// handshake is refused after start_timeout; the host does not wait for the
// child that still holds the plugin's stdout.
func TestWrapperHangsOnStart(t *testing.T) {
	script := filepath.Join(t.TempDir(), "wrapper.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	file := writePipeline(t, "    path: "+script+"\n    start_timeout: 300ms")
	p, err := engine.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	err = p.Load(context.Background())
	enginetest.CheckConfigError(t, err, file+":5:11: ", "no go-plugin handshake line on stdout within start_timeout")
	if el := time.Since(start); el > 25*time.Second { // waiting for the child takes 30s
		t.Errorf("lint took %v with start_timeout: 300ms", el)
	}
}
