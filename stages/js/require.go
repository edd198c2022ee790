package js

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/dop251/goja"
	"github.com/dop251/goja_nodejs/require"
)

// denied names the Node.js core modules a script might reach for; they are
// not in the sandbox.
var denied = map[string]bool{"fs": true, "child_process": true, "net": true, "http": true, "https": true,
	"os": true, "process": true, "worker_threads": true, "dgram": true, "dns": true, "tls": true, "vm": true}

// modulesRegistry returns the stage's goja_nodejs require registry, made
// once: it resolves names as Node.js does (NAME, NAME.js, NAME.json,
// NAME/package.json "main", NAME/index.js), searching the modules:
// directories as global folders, and compiles each module once for every
// runtime of the stage. Its source loader reads nothing outside modules:.
func (l *language) modulesRegistry() *require.Registry {
	l.reqOnce.Do(func() {
		l.reqReg = require.NewRegistry(require.WithLoader(l.moduleSource), require.WithGlobalFolders(l.st.Modules.Roots()...))
	})
	return l.reqReg
}

// moduleSource is the registry's source loader: files inside the modules:
// directories only (symbolic links are resolved before the check).
func (l *language) moduleSource(path string) ([]byte, error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	if !l.st.Modules.Inside(path) {
		return nil, require.ModuleFileDoesNotExistError
	}
	src, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) || isDir(path) {
		return nil, require.ModuleFileDoesNotExistError
	}
	return src, err
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// enableRequire gives vm a require function: goja_nodejs's, behind checks
// that word the sandbox's refusals. Modules get the same function (the
// registry hands them the runtime's global require). In a module, "./x" and
// "../x" are relative to the module's directory, as in Node.js; in the
// stage's script, which has no directory in the sandbox, they are looked up
// in each modules: directory in turn. Bare names are searched in the
// modules: directories. No name leads out of them.
func (l *language) enableRequire(vm *goja.Runtime) {
	mods := &l.st.Modules
	var mod *require.RequireModule
	if len(mods.Dirs) > 0 {
		mod = l.modulesRegistry().Enable(vm)
	}
	vm.Set("require", func(call goja.FunctionCall) goja.Value {
		name := call.Argument(0).String()
		fail := func(format string, args ...any) {
			panic(vm.NewGoError(fmt.Errorf("require(%q): "+format, append([]any{name}, args...)...)))
		}
		if denied[strings.TrimPrefix(name, "node:")] {
			fail("%s is not available in the sandbox (no filesystem, network or processes)", name)
		}
		if filepath.IsAbs(name) || (mod == nil && strings.Contains(name, "..")) {
			fail("only modules from the stage's modules: directories")
		}
		if mod == nil {
			fail("no module directories; list them in the stage's modules:")
		}
		notFound := func() { fail("not found in the modules: directories (%s)", strings.Join(mods.Dirs, ", ")) }
		load := func(target string) (goja.Value, bool) {
			v, err := mod.Require(target)
			var ex *goja.Exception
			switch {
			case err == nil:
				return v, true
			case errors.Is(err, require.InvalidModuleError):
				return nil, false
			case errors.As(err, &ex):
				panic(ex) // thrown by the module's own code: keep its stack
			}
			fail("%v", err)
			return nil, false
		}
		// The caller: a module (a file in modules:) or the stage's script.
		var from string
		if frames := vm.CaptureCallStack(2, nil); len(frames) == 2 {
			if f := frames[1].SrcName(); filepath.IsAbs(f) && mods.Inside(f) {
				from = filepath.Dir(f)
			}
		}
		relative := strings.HasPrefix(name, "./") || strings.HasPrefix(name, "../")
		bases := mods.Roots()
		if relative && from != "" {
			bases = []string{from}
		}
		var targets []string
		for _, dir := range bases {
			if t := filepath.Join(dir, name); mods.Inside(t) {
				targets = append(targets, t)
			}
		}
		if len(targets) == 0 {
			fail("only modules from the stage's modules: directories")
		}
		if !relative || from != "" {
			// Node.js resolution: bare names over the modules:
			// directories, relative ones from the calling module.
			if v, ok := load(name); ok {
				return v
			}
			notFound()
		}
		for _, t := range targets {
			if v, ok := load(t); ok {
				return v
			}
		}
		notFound()
		return nil
	})
}
