package native

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"debug/macho"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/pipe-dev/pipe/stage"
)

// The kinds of PluginError, for errors.Is.
var (
	// ErrNotPlugin: the file is not a Go plugin at all (not ELF, truncated,
	// not built by Go, a Go program rather than a -buildmode=plugin).
	ErrNotPlugin = errors.New("not a Go plugin")
	// ErrMismatch: a Go plugin built differently from this pipe (another Go
	// version, other versions of shared modules, other build flags).
	ErrMismatch = errors.New("plugin built differently from this pipe")
	// ErrNoPlugins: this pipe cannot load Go plugins at all (built without cgo).
	ErrNoPlugins = errors.New("this pipe cannot load Go plugins")
	// ErrBadPlugin: a loaded plugin that does not export what pipe needs
	// (New, PipeAPIVersion), or whose host API version is not supported.
	ErrBadPlugin = errors.New("plugin does not follow the pipe plugin contract")
	// ErrChanged: the file changed after this process loaded it (a Go
	// plugin cannot be unloaded or reloaded).
	ErrChanged = errors.New("plugin changed since it was loaded")
)

// PluginError is why a Go plugin (.so) cannot be used. errors.Is(err, Kind)
// holds for its kind (ErrNotPlugin, ErrMismatch, ...); Err, if not nil, is
// the underlying cause (a debug/elf or plugin.Open error).
type PluginError struct {
	Path string // the .so file
	Kind error  // ErrNotPlugin, ErrMismatch, ErrNoPlugins, ErrBadPlugin or ErrChanged
	Msg  string // what is wrong, naming both sides of a mismatch
	Fix  string // a command that builds the plugin so that this pipe loads it, if known
	Err  error
}

func (e *PluginError) Error() string {
	s := "plugin " + e.Path + ": " + e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	if e.Fix != "" {
		s += "; rebuild it with: " + e.Fix
	}
	return s
}

// Unwrap returns the kind and the cause.
func (e *PluginError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}

// hostInfo is what a plugin must match: the running pipe's toolchain, build
// flags and modules.
type hostInfo struct {
	goVersion string
	goos      string
	cgo       bool
	settings  map[string]string        // build settings (-trimpath, GOAMD64, ...)
	main      string                   // the main module's path
	mods      map[string]*debug.Module // module path -> module (Main included), nil if unknown
}

// currentHost describes the running binary. A test binary carries no module
// list (mods is nil), so that check is left to plugin.Open there.
func currentHost() hostInfo {
	h := hostInfo{goVersion: runtime.Version(), goos: runtime.GOOS, cgo: hostCgo, settings: map[string]string{}}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			h.settings[s.Key] = s.Value
		}
		h.main = bi.Main.Path
		if len(bi.Deps) > 0 {
			h.mods = modules(bi)
		}
	}
	// The build tags are the truth for race and cgo.
	h.settings["-race"] = boolSetting(hostRace)
	h.settings["CGO_ENABLED"] = map[bool]string{true: "1", false: "0"}[hostCgo]
	return h
}

func boolSetting(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// modules maps module paths to the module actually built (the replacement,
// if there is one), the main module included.
func modules(bi *debug.BuildInfo) map[string]*debug.Module {
	m := map[string]*debug.Module{}
	add := func(mod *debug.Module) {
		if mod == nil || mod.Path == "" {
			return
		}
		eff := mod
		if mod.Replace != nil {
			eff = mod.Replace
		}
		m[mod.Path] = eff
	}
	main := bi.Main
	add(&main)
	for _, d := range bi.Deps {
		add(d)
	}
	return m
}

// local reports whether a module was built from a directory (the main
// module of a checkout, or a replace => ../dir) rather than a versioned
// download, whose contents the version and sum pin.
func local(m *debug.Module) bool {
	return m.Version == "" || m.Version == "(devel)" || m.Sum == ""
}

func describe(m *debug.Module) string {
	switch {
	case m.Version == "" || m.Version == "(devel)":
		if m.Path != "" && (strings.HasPrefix(m.Path, ".") || filepath.IsAbs(m.Path)) {
			return "the directory " + m.Path
		}
		return "a local checkout (devel)"
	case m.Sum == "":
		return m.Version
	}
	return m.Version + " (" + m.Sum + ")"
}

// preflight checks a plugin file's bytes before plugin.Open: Go's own
// checks come late (after dlopen has run the file's initialisers), are
// cryptic, and for a shared object not built by Go abort the process
// ("fatal error: runtime: no plugin module data"). It returns the plugin's
// build information.
func preflight(path string, data []byte, h hostInfo) (*buildinfo.BuildInfo, error) {
	perr := func(kind error, fix string, cause error, format string, args ...any) error {
		return &PluginError{Path: path, Kind: kind, Msg: fmt.Sprintf(format, args...), Fix: fix, Err: cause}
	}
	switch h.goos {
	case "linux", "freebsd", "darwin":
	default:
		return nil, perr(ErrNoPlugins, "", nil, "Go supports plugins on Linux, FreeBSD and macOS only, not on %s: use a wasm or rpc stage", h.goos)
	}
	if !h.cgo {
		return nil, perr(ErrNoPlugins, "", nil,
			"this pipe was built without cgo (CGO_ENABLED=0), and Go plugins need it: build pipe with CGO_ENABLED=1 (and a C compiler), e.g. CGO_ENABLED=1 go install github.com/pipe-dev/pipe/cmd/pipe@latest")
	}
	var dyn bool
	var err error
	if h.goos == "darwin" {
		dyn, err = checkMachO(data)
	} else {
		dyn, err = checkELF(data)
	}
	if err != nil {
		var pe *PluginError
		if errors.As(err, &pe) {
			pe.Path = path
		}
		return nil, err
	}
	bi, err := buildinfo.Read(bytes.NewReader(data))
	if err != nil {
		if dyn {
			return nil, perr(ErrNotPlugin, "", nil, "a shared object not built by Go (it has no Go build information); a Go plugin is built with go build -buildmode=plugin")
		}
		return nil, perr(ErrNotPlugin, "", nil, "a program or object file not built by Go, not a Go plugin")
	}
	err = checkBuild(path, bi, dyn, h)
	if errors.Is(err, ErrNotPlugin) || !linksAPI1(data, h.goos) {
		return bi, err
	}
	// A plugin written for host API 1 also fails the checks after the
	// first (it was built from another pipe), but the first thing to fix
	// is its source.
	return bi, &PluginError{Path: path, Kind: ErrBadPlugin, Fix: fixCommand(path, bi, h, false),
		Msg: "written for host API 1 (it links package github.com/pipe-dev/pipe/engine and not package stage), but this pipe has host API " + stage.APIVersion + "; " + migrateAPI1}
}

// The package paths whose symbols tell a plugin's host API: a plugin for
// API 2 and later links stage (engine, if it links it too, imports stage);
// a plugin for API 1 links engine only.
const (
	enginePkg = "github.com/pipe-dev/pipe/engine."
	stagePkg  = "github.com/pipe-dev/pipe/stage."
)

// linksAPI1 reports whether a Go plugin's symbol table names package
// engine but not package stage: a plugin written for host API 1. A
// stripped plugin (-ldflags=-s) reports false; plugin.Open and the symbol
// checks then find what is wrong.
func linksAPI1(data []byte, goos string) bool {
	var names []string
	if goos == "darwin" {
		f, err := macho.NewFile(bytes.NewReader(data))
		if err != nil || f.Symtab == nil {
			return false
		}
		defer f.Close()
		for _, s := range f.Symtab.Syms {
			names = append(names, s.Name)
		}
	} else {
		f, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return false
		}
		defer f.Close()
		syms, err := f.Symbols()
		if err != nil {
			return false
		}
		for _, s := range syms {
			names = append(names, s.Name)
		}
	}
	var engine bool
	for _, n := range names {
		if strings.Contains(n, stagePkg) {
			return false
		}
		engine = engine || strings.Contains(n, enginePkg)
	}
	return engine
}

// checkBuild compares a Go binary's build information with the host's:
// built as a plugin (a shared object, dyn), by the same Go, for the same
// platform, with the same flags and shared modules.
func checkBuild(path string, bi *buildinfo.BuildInfo, dyn bool, h hostInfo) error {
	perr := func(kind error, fix string, format string, args ...any) error {
		return &PluginError{Path: path, Kind: kind, Msg: fmt.Sprintf(format, args...), Fix: fix}
	}
	set := settings(bi)
	if mode := set["-buildmode"]; mode != "plugin" || !dyn {
		if mode == "" {
			mode = "exe"
		}
		return perr(ErrNotPlugin, fixCommand(path, bi, h, false),
			"a Go program (built with -buildmode=%s), not a plugin", mode)
	}
	if bi.GoVersion != h.goVersion {
		return perr(ErrMismatch, fixCommand(path, bi, h, true),
			"built with Go %s, but this pipe with Go %s; a plugin must be built with exactly the Go version of the pipe that loads it",
			bi.GoVersion, h.goVersion)
	}
	for _, k := range []string{"GOOS", "GOARCH", "GO" + strings.ToUpper(h.settings["GOARCH"])} {
		if hv, pv := h.settings[k], set[k]; hv != "" && pv != hv {
			return perr(ErrMismatch, fixCommand(path, bi, h, false), "built for %s=%s, but this pipe for %s=%s", k, pv, k, hv)
		}
	}
	for _, k := range []string{"-race", "-msan", "-asan", "-trimpath"} {
		hv, pv := h.settings[k] == "true", set[k] == "true"
		if hv != pv {
			return perr(ErrMismatch, fixCommand(path, bi, h, false),
				"built %s %s, but this pipe was built %s it; the flag must be the same on both", withOrWithout(pv), k, withOrWithout(hv))
		}
	}
	return checkModules(path, bi, h)
}

func notPlugin(cause error, format string, args ...any) error {
	return &PluginError{Kind: ErrNotPlugin, Msg: fmt.Sprintf(format, args...), Err: cause}
}

// checkELF checks that data is a whole ELF file; dyn reports a shared
// object (ET_DYN: a plugin, or a position-independent program).
func checkELF(data []byte) (dyn bool, err error) {
	if !bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		what := "not an ELF file"
		switch {
		case len(data) == 0:
			what = "an empty file"
		case bytes.HasPrefix(data, []byte("\x00asm")):
			what = "a WebAssembly module, not an ELF file (use type: wasm)"
		case bytes.HasPrefix(data, []byte("#!")):
			what = "a script, not an ELF file"
		}
		return false, notPlugin(nil, "%s; a Go plugin is an ELF shared object built with go build -buildmode=plugin", what)
	}
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return false, notPlugin(err, "truncated or corrupt ELF file")
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Off+p.Filesz > uint64(len(data)) {
			return false, notPlugin(nil, "truncated ELF file: a segment ends at byte %d of %d", p.Off+p.Filesz, len(data))
		}
	}
	for _, s := range f.Sections {
		if s.Type != elf.SHT_NOBITS && s.Offset+s.FileSize > uint64(len(data)) {
			return false, notPlugin(nil, "truncated ELF file: section %s ends at byte %d of %d", s.Name, s.Offset+s.FileSize, len(data))
		}
	}
	return f.Type == elf.ET_DYN, nil
}

// checkMachO is checkELF for macOS, where a plugin is a Mach-O dylib or
// bundle.
func checkMachO(data []byte) (dyn bool, err error) {
	f, err := macho.NewFile(bytes.NewReader(data))
	if err != nil {
		return false, notPlugin(err, "not a Mach-O file, or a truncated one; a Go plugin is built with go build -buildmode=plugin")
	}
	defer f.Close()
	for _, seg := range f.Loads {
		if sg, ok := seg.(*macho.Segment); ok && sg.Offset+sg.Filesz > uint64(len(data)) {
			return false, notPlugin(nil, "truncated Mach-O file: segment %s ends at byte %d of %d", sg.Name, sg.Offset+sg.Filesz, len(data))
		}
	}
	return f.Type == macho.TypeDylib || f.Type == macho.TypeBundle, nil
}

func withOrWithout(b bool) string {
	if b {
		return "with"
	}
	return "without"
}

// checkModules compares every module the plugin shares with this pipe.
// Two versioned modules are equal when version and go.sum hash are. A
// module built from a directory (the main module of a checkout, reported
// as "(devel)", or a replace => ../dir) has no version to compare: there
// the two must agree on the VCS revision and modified flag when both carry
// them; otherwise plugin.Open compares every shared package's contents
// (its export data hash) and the error names the package.
func checkModules(path string, bi *buildinfo.BuildInfo, h hostInfo) error {
	if h.mods == nil {
		return nil
	}
	pm := modules(bi)
	var diffs, gets []string
	for mpath, p := range pm {
		hm, ok := h.mods[mpath]
		if !ok {
			continue
		}
		if local(hm) || local(p) {
			if local(hm) && local(p) && mpath == bi.Main.Path && mpath == h.main {
				hr, pr := revision(h.settings), revision(settings(bi))
				if hr != "" && pr != "" && hr != pr {
					diffs = append(diffs, fmt.Sprintf("%s: plugin built from revision %s, pipe from %s", mpath, pr, hr))
				}
			}
			continue
		}
		if hm.Version != p.Version || hm.Sum != p.Sum {
			diffs = append(diffs, fmt.Sprintf("%s: plugin has %s, pipe has %s", mpath, describe(p), describe(hm)))
			gets = append(gets, mpath+"@"+hm.Version)
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	slices.Sort(diffs)
	slices.Sort(gets)
	fix := fixCommand(path, bi, h, false)
	if len(gets) > 0 {
		fix = "go get " + strings.Join(gets, " ") + " && " + fix + " (in the plugin's module; drop any replace of these modules)"
	}
	return &PluginError{Path: path, Kind: ErrMismatch, Fix: fix,
		Msg: "built against other versions of modules this pipe also uses (" + strings.Join(diffs, "; ") + "); every shared module must be at the same version"}
}

func settings(bi *buildinfo.BuildInfo) map[string]string {
	m := map[string]string{}
	for _, s := range bi.Settings {
		m[s.Key] = s.Value
	}
	return m
}

func revision(s map[string]string) string {
	r := s["vcs.revision"]
	if r != "" && s["vcs.modified"] == "true" {
		r += " (modified)"
	}
	return r
}

// fixCommand is the command that builds the plugin so that this pipe can
// load it, run in the plugin's module.
func fixCommand(path string, bi *buildinfo.BuildInfo, h hostInfo, toolchain bool) string {
	var b strings.Builder
	if toolchain && strings.HasPrefix(h.goVersion, "go") && !strings.Contains(h.goVersion, " ") {
		b.WriteString("GOTOOLCHAIN=" + h.goVersion + " ")
	}
	b.WriteString("go build -buildmode=plugin")
	for _, k := range []string{"-race", "-msan", "-asan", "-trimpath"} {
		if h.settings[k] == "true" {
			b.WriteString(" " + k)
		}
	}
	pkg := bi.Path
	if pkg == "" || strings.HasPrefix(pkg, "command-line-arguments") {
		pkg = "."
	}
	b.WriteString(" -o " + strings.TrimSuffix(filepath.Base(path), ".so") + ".so " + pkg)
	return b.String()
}
