package native

import (
	"debug/buildinfo"
	"errors"
	"runtime/debug"
	"strings"
	"testing"
)

// TestCheckBuild compares build information the way the preflight does,
// on values: other Go versions, platforms, flags and module versions.
func TestCheckBuild(t *testing.T) {
	yaml := func(v, sum string) *debug.Module {
		return &debug.Module{Path: "gopkg.in/yaml.v3", Version: v, Sum: sum}
	}
	pipe := func(v, sum string) *debug.Module {
		return &debug.Module{Path: "github.com/pipe-dev/pipe", Version: v, Sum: sum}
	}
	host := func(edit func(*hostInfo)) hostInfo {
		h := hostInfo{goVersion: "go1.26.8", cgo: true, main: "github.com/pipe-dev/pipe",
			settings: map[string]string{"GOOS": "linux", "GOARCH": "amd64", "GOAMD64": "v1", "-race": "false"},
			mods: map[string]*debug.Module{
				"github.com/pipe-dev/pipe": pipe("v1.2.0", "h1:pipe120="),
				"gopkg.in/yaml.v3":         yaml("v3.0.1", "h1:yaml301="),
			}}
		if edit != nil {
			edit(&h)
		}
		return h
	}
	plugin := func(edit func(*buildinfo.BuildInfo)) *buildinfo.BuildInfo {
		bi := &buildinfo.BuildInfo{GoVersion: "go1.26.8", Path: "example.com/upper",
			Main: debug.Module{Path: "example.com/upper", Version: "(devel)"},
			Deps: []*debug.Module{pipe("v1.2.0", "h1:pipe120="), yaml("v3.0.1", "h1:yaml301="),
				{Path: "example.com/only-in-plugin", Version: "v0.1.0", Sum: "h1:x="}},
			Settings: []debug.BuildSetting{{Key: "-buildmode", Value: "plugin"}, {Key: "GOOS", Value: "linux"},
				{Key: "GOARCH", Value: "amd64"}, {Key: "GOAMD64", Value: "v1"}, {Key: "CGO_ENABLED", Value: "1"}}}
		if edit != nil {
			edit(bi)
		}
		return bi
	}
	set := func(k, v string) func(*buildinfo.BuildInfo) {
		return func(bi *buildinfo.BuildInfo) { bi.Settings = append(bi.Settings, debug.BuildSetting{Key: k, Value: v}) }
	}
	tests := []struct {
		name  string
		bi    *buildinfo.BuildInfo
		h     hostInfo
		kind  error // nil: loads
		want  []string
		nodyn bool
	}{
		{"equal", plugin(nil), host(nil), nil, nil, false},
		{"other Go", plugin(func(bi *buildinfo.BuildInfo) { bi.GoVersion = "go1.26.7" }), host(nil), ErrMismatch,
			[]string{"built with Go go1.26.7, but this pipe with Go go1.26.8", "GOTOOLCHAIN=go1.26.8 go build -buildmode=plugin -o upper.so example.com/upper"}, false},
		{"executable", plugin(func(bi *buildinfo.BuildInfo) { bi.Settings[0].Value = "exe" }), host(nil), ErrNotPlugin,
			[]string{"a Go program (built with -buildmode=exe), not a plugin"}, true},
		{"pie", plugin(func(bi *buildinfo.BuildInfo) { bi.Settings[0].Value = "pie" }), host(nil), ErrNotPlugin,
			[]string{"-buildmode=pie"}, false},
		{"other arch level", plugin(func(bi *buildinfo.BuildInfo) { bi.Settings[3].Value = "v3" }), host(nil), ErrMismatch,
			[]string{"built for GOAMD64=v3, but this pipe for GOAMD64=v1"}, false},
		{"race plugin, plain host", plugin(set("-race", "true")), host(nil), ErrMismatch,
			[]string{"built with -race, but this pipe was built without it"}, false},
		{"plain plugin, race host", plugin(nil), host(func(h *hostInfo) { h.settings["-race"] = "true" }), ErrMismatch,
			[]string{"built without -race", "go build -buildmode=plugin -race -o upper.so"}, false},
		{"trimpath", plugin(set("-trimpath", "true")), host(nil), ErrMismatch,
			[]string{"built with -trimpath, but this pipe was built without it"}, false},
		{"other module version", plugin(func(bi *buildinfo.BuildInfo) { bi.Deps[1] = yaml("v3.0.0", "h1:yaml300=") }), host(nil), ErrMismatch,
			[]string{"gopkg.in/yaml.v3: plugin has v3.0.0 (h1:yaml300=), pipe has v3.0.1 (h1:yaml301=)", "go get gopkg.in/yaml.v3@v3.0.1 && go build -buildmode=plugin"}, false},
		{"module replaced by another version", plugin(func(bi *buildinfo.BuildInfo) {
			bi.Deps[1] = &debug.Module{Path: "gopkg.in/yaml.v3", Version: "v3.0.1", Replace: yaml("v3.0.0", "h1:yaml300=")}
		}), host(nil), ErrMismatch, []string{"plugin has v3.0.0 (h1:yaml300=), pipe has v3.0.1", "drop any replace"}, false},
		{"same version, other sum", plugin(func(bi *buildinfo.BuildInfo) { bi.Deps[1] = yaml("v3.0.1", "h1:forged=") }), host(nil), ErrMismatch,
			[]string{"plugin has v3.0.1 (h1:forged=), pipe has v3.0.1 (h1:yaml301=)"}, false},
		{"other pipe release", plugin(func(bi *buildinfo.BuildInfo) { bi.Deps[0] = pipe("v1.1.0", "h1:pipe110=") }), host(nil), ErrMismatch,
			[]string{"github.com/pipe-dev/pipe: plugin has v1.1.0", "go get github.com/pipe-dev/pipe@v1.2.0"}, false},
		{"pipe from a directory: left to plugin.Open", plugin(func(bi *buildinfo.BuildInfo) {
			bi.Deps[0] = &debug.Module{Path: "github.com/pipe-dev/pipe", Version: "v0.0.0", Replace: &debug.Module{Path: "../pipe"}}
		}), host(nil), nil, nil, false},
		{"both from the same checkout", devel(plugin(nil), "abc", "false"), devhost(host(nil), "abc", "false"), nil, nil, false},
		{"both from a checkout without VCS stamps", devel(plugin(nil), "", ""), devhost(host(nil), "", ""), nil, nil, false},
		{"checkouts at other revisions", devel(plugin(nil), "abc", "false"), devhost(host(nil), "def", "false"), ErrMismatch,
			[]string{"github.com/pipe-dev/pipe: plugin built from revision abc, pipe from def"}, false},
		{"host without a module list (a test binary)", plugin(func(bi *buildinfo.BuildInfo) { bi.Deps[1] = yaml("v3.0.0", "h1:yaml300=") }),
			host(func(h *hostInfo) { h.mods = nil }), nil, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkBuild("/plugins/upper.so", tt.bi, !tt.nodyn, tt.h)
			if tt.kind == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

// devel makes bi a plugin built in pipe's own checkout (main module
// github.com/pipe-dev/pipe, "(devel)") at a VCS revision.
func devel(bi *buildinfo.BuildInfo, rev, modified string) *buildinfo.BuildInfo {
	bi.Main = debug.Module{Path: "github.com/pipe-dev/pipe", Version: "(devel)"}
	bi.Deps = bi.Deps[1:]
	if rev != "" {
		bi.Settings = append(bi.Settings, debug.BuildSetting{Key: "vcs.revision", Value: rev}, debug.BuildSetting{Key: "vcs.modified", Value: modified})
	}
	return bi
}

func devhost(h hostInfo, rev, modified string) hostInfo {
	h.mods["github.com/pipe-dev/pipe"] = &debug.Module{Path: "github.com/pipe-dev/pipe", Version: "(devel)"}
	if rev != "" {
		h.settings["vcs.revision"], h.settings["vcs.modified"] = rev, modified
	}
	return h
}

func TestCompatibleAPI(t *testing.T) {
	for _, tt := range []struct {
		plugin, host string
		ok           bool
	}{
		{"1.0.0", "1.0.0", true}, {"1.0.0", "1.3.0", true}, {"1.2.5", "1.2.0", true},
		{"1.4.0", "1.3.0", false}, {"2.0.0", "1.0.0", false}, {"0.9.0", "1.0.0", false},
		{"one", "1.0.0", false}, {"1.0", "1.0.0", false}, {"v1.0.0", "1.0.0", true},
		{"2.0.0", "2.1.0", true}, {"1.0.0", "2.0.0", false},
	} {
		if err := compatibleAPI(tt.plugin, tt.host); (err == nil) != tt.ok {
			t.Errorf("compatibleAPI(%q, %q) = %v, want ok=%v", tt.plugin, tt.host, err, tt.ok)
		}
	}
	// A plugin for host API 1 learns how to port itself to API 2.
	err := compatibleAPI("1.0.0", "2.0.0")
	for _, want := range []string{"package github.com/pipe-dev/pipe/stage", "func New(cfg stage.Config) (stage.Transformer, error)", "rebuild"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("compatibleAPI(1.0.0, 2.0.0) = %v, want it to say %q", err, want)
		}
	}
}

// TestHostWithoutPlugins: a pipe without cgo, or on a system where Go has
// no plugins, says so before looking at the file.
func TestHostWithoutPlugins(t *testing.T) {
	for _, tt := range []struct {
		h    hostInfo
		want string
	}{
		{hostInfo{goVersion: "go1.26.8", goos: "linux"}, "built without cgo (CGO_ENABLED=0)"},
		{hostInfo{goVersion: "go1.26.8", goos: "windows", cgo: true}, "Linux, FreeBSD and macOS only, not on windows"},
	} {
		_, err := preflight("x.so", []byte("\x7fELF"), tt.h)
		if !errors.Is(err, ErrNoPlugins) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("err = %v, want %q", err, tt.want)
		}
	}
}

// TestMachO: on macOS the file must be a whole Mach-O file.
func TestMachO(t *testing.T) {
	h := hostInfo{goVersion: "go1.26.8", goos: "darwin", cgo: true}
	for _, data := range []string{"", "\x7fELF\x02\x01\x01", "\xcf\xfa\xed\xfe\x07"} {
		_, err := preflight("x.so", []byte(data), h)
		if !errors.Is(err, ErrNotPlugin) || !strings.Contains(err.Error(), "plugin x.so: not a Mach-O file") {
			t.Errorf("%q: err = %v", data, err)
		}
	}
}
