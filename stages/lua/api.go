package lua

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/script"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// newState makes a sandboxed Lua state: base (without dofile and
// loadfile), string, table and math, the pipe module, emit, and require
// limited to the stage's modules: directories.
func (l *language) newState(v *vm) *lua.LState {
	L := lua.NewState(lua.Options{CallStackSize: callStackSize, RegistrySize: registrySize,
		RegistryMaxSize: registryMaxSize, SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	installIpairs(L)
	// string.rep is the one call that can ask for any amount of memory at
	// once; Go cannot recover from running out of it, so it is bounded.
	if str, ok := L.GetGlobal(lua.StringLibName).(*lua.LTable); ok {
		str.RawSetString("rep", L.NewFunction(strRep))
		installPatterns(str, L)
		str.RawSetString("upper", L.NewFunction(func(L *lua.LState) int { return v.strCase(L, 'a', 'z') })) // byte-wise, as Lua 5.1's
		str.RawSetString("lower", L.NewFunction(func(L *lua.LState) int { return v.strCase(L, 'A', 'Z') }))
		// Strings get a metatable of their own, {__index = string}, as in
		// Lua 5.1 (gopher-lua uses the string table itself, with
		// string.__index = string): ("").__index is then nil, not the
		// string table, which a body that keeps nothing must not reach
		// (see keepsNothing).
		str.RawSetString("__index", lua.LNil)
		mt := L.NewTable()
		mt.RawSetString("__index", str)
		L.SetMetatable(lua.LString(""), mt)
	}
	// What the sandbox leaves out says so when a script reaches for it.
	for _, name := range []string{"dofile", "loadfile"} {
		L.SetGlobal(name, L.NewFunction(func(L *lua.LState) int {
			L.RaiseError("%s is not available in the sandbox: scripts cannot read files", name)
			return 0
		}))
	}
	for _, lib := range []string{"os", "io", "debug", "package"} {
		t, mt := L.NewTable(), L.NewTable()
		mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
			hint := ""
			if _, ok := optional[lib]; ok {
				hint = fmt.Sprintf(" (a stage may opt in with allow: [%s])", lib)
			}
			L.RaiseError("%s.%s is not available in the sandbox%s", lib, L.ToString(2), hint)
			return 0
		}))
		t.Metatable = mt
		L.SetGlobal(lib, t)
	}
	for _, a := range l.allow {
		L.Push(L.NewFunction(optional[a]))
		L.Push(lua.LString(a))
		L.Call(1, 0)
	}
	mt := L.NewTable()
	mt.RawSetString("__pipe_array", lua.LTrue)
	L.SetField(L.G.Registry, arrayKey, mt)
	installLazy(L, func() order { return v.order })

	log := l.st.Log
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int {
		parts := make([]string, L.GetTop())
		for i := range parts {
			parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
		}
		log.Info(strings.Join(parts, "\t"))
		return 0
	}))
	L.SetGlobal("emit", L.NewFunction(v.emit))
	L.SetGlobal("require", L.NewFunction(l.require))
	L.SetGlobal("pipe", l.pipeModule(L, v))
	return L
}

// maxRepBytes is the largest string string.rep makes.
const maxRepBytes = 64 << 20

// strRep is Lua 5.1's string.rep(s, n) refusing results over maxRepBytes.
func strRep(L *lua.LState) int {
	str, n := L.CheckString(1), L.CheckInt64(2)
	if n <= 0 || str == "" {
		L.Push(lua.LString(""))
		return 1
	}
	if n > maxRepBytes/int64(len(str)) {
		L.RaiseError("string.rep: the result would be %d bytes, more than the %d MiB a script may make at once", int64(len(str))*n, maxRepBytes>>20)
	}
	L.Push(lua.LString(strings.Repeat(str, int(n))))
	return 1
}

// metaTable gives a record's metadata to Lua as a table of strings.
func metaTable(L *lua.LState, meta map[string]string) *lua.LTable {
	t := L.CreateTable(0, len(meta))
	for k, v := range meta {
		t.RawSetString(k, lua.LString(v))
	}
	return t
}

// fromMeta reads the metadata table back (values as strings; an empty,
// non-nil map means "no metadata", so nothing is inherited).
func fromMeta(t *lua.LTable) map[string]string {
	m := map[string]string{}
	t.ForEach(func(k, v lua.LValue) {
		if v != lua.LNil {
			// Copies: a string of the script may be the bytes of its
			// record (see keepsNothing), which the engine reuses.
			m[strings.Clone(k.String())] = strings.Clone(v.String())
		}
	})
	return m
}

var (
	reMu    sync.Mutex
	reCache = map[string]*regexp.Regexp{}
)

func compiled(L *lua.LState, pattern string) *regexp.Regexp {
	reMu.Lock()
	defer reMu.Unlock()
	re, ok := reCache[pattern]
	if !ok {
		var err error
		// A copy: the pattern may be the bytes of a record (see
		// keepsNothing), which the engine reuses; the cache and the
		// regexp keep it.
		pattern = strings.Clone(pattern)
		if re, err = regexp.Compile(pattern); err != nil {
			L.RaiseError("invalid regexp %q: %v", pattern, err)
		}
		if len(reCache) < 1000 {
			reCache[pattern] = re
		}
	}
	return re
}

// pipeModule is the Go-backed host API of scripts.
func (l *language) pipeModule(L *lua.LState, v *vm) *lua.LTable {
	log := l.st.Log
	p := L.NewTable()
	p.RawSetString("null", jsonNull)
	fn := func(f lua.LGFunction) *lua.LFunction { return L.NewFunction(f) }
	js := L.NewTable()
	js.RawSetString("encode", fn(func(L *lua.LState) int {
		b, err := encodeJSON(L.CheckAny(1), v.order)
		if err != nil {
			L.RaiseError("pipe.json.encode: %v", err)
		}
		L.Push(lua.LString(b))
		return 1
	}))
	js.RawSetString("decode", fn(func(L *lua.LState) int {
		val, err := decodeJSON(L, []byte(L.CheckString(1)), v.order)
		if err != nil {
			L.RaiseError("pipe.json.decode: %v", err)
		}
		L.Push(val)
		return 1
	}))
	p.RawSetString("json", js)
	lg := L.NewTable()
	for _, lvl := range []string{"info", "warn", "error"} {
		lg.RawSetString(lvl, fn(func(L *lua.LState) int {
			msg := L.ToStringMeta(L.Get(1)).String()
			var attrs []any
			if t, ok := L.Get(2).(*lua.LTable); ok {
				t.ForEach(func(k, v lua.LValue) { attrs = append(attrs, k.String(), v.String()) })
			}
			switch lvl {
			case "info":
				log.Info(msg, attrs...)
			case "warn":
				log.Warn(msg, attrs...)
			default:
				log.Error(msg, attrs...)
			}
			return 0
		}))
	}
	p.RawSetString("log", lg)
	p.RawSetString("now", fn(func(L *lua.LState) int {
		L.Push(lua.LNumber(float64(time.Now().UnixNano()) / 1e9))
		return 1
	}))
	p.RawSetString("split", fn(func(L *lua.LState) int {
		str, sep := L.CheckString(1), L.OptString(2, ",")
		t := L.NewTable()
		for _, part := range strings.Split(str, sep) {
			t.Append(lua.LString(part))
		}
		L.Push(t)
		return 1
	}))
	p.RawSetString("trim", fn(func(L *lua.LState) int {
		L.Push(lua.LString(strings.TrimSpace(L.CheckString(1))))
		return 1
	}))
	p.RawSetString("startswith", fn(func(L *lua.LState) int {
		L.Push(lua.LBool(strings.HasPrefix(L.CheckString(1), L.CheckString(2))))
		return 1
	}))
	p.RawSetString("endswith", fn(func(L *lua.LState) int {
		L.Push(lua.LBool(strings.HasSuffix(L.CheckString(1), L.CheckString(2))))
		return 1
	}))
	p.RawSetString("match", fn(func(L *lua.LState) int {
		m := compiled(L, L.CheckString(2)).FindStringSubmatch(L.CheckString(1))
		if m == nil {
			L.Push(lua.LNil)
			return 1
		}
		t := L.NewTable()
		for _, g := range m {
			t.Append(lua.LString(g))
		}
		L.Push(t)
		return 1
	}))
	p.RawSetString("array", fn(func(L *lua.LState) int {
		t := L.NewTable()
		if mt, ok := L.GetField(L.G.Registry, arrayKey).(*lua.LTable); ok {
			t.Metatable = mt
		}
		L.Push(t)
		return 1
	}))
	return p
}

var denied = map[string]string{"os": "os", "io": "io", "debug": "debug", "package": "package"}

// require loads NAME.lua (dots become slashes) from the stage's modules:
// directories, once per state. A module file is read and compiled once per
// stage (every state of every worker runs those bytes), and its real path,
// symbolic links resolved, must lie inside a modules: directory.
func (l *language) require(L *lua.LState) int {
	name := L.CheckString(1)
	loaded, ok := L.GetField(L.G.Registry, "pipe.loaded").(*lua.LTable)
	if !ok {
		loaded = L.NewTable()
		L.SetField(L.G.Registry, "pipe.loaded", loaded)
	}
	if v := loaded.RawGetString(name); v != lua.LNil {
		L.Push(v)
		return 1
	}
	if lib, ok := denied[name]; ok {
		if _, allowed := optional[lib]; allowed && slices.Contains(l.allow, lib) {
			L.Push(L.GetGlobal(lib))
			return 1
		}
		L.RaiseError("require %q: the %s library is not available in the sandbox (a stage may opt in with allow: [os] or allow: [io])", name, lib)
	}
	if strings.Contains(name, "..") || strings.ContainsAny(name, `/\`) {
		L.RaiseError("require %q: not a module name", name)
	}
	mods := &l.st.Modules
	if len(mods.Dirs) == 0 {
		L.RaiseError("require %q: no module directories; list them in the stage's modules:", name)
	}
	rel := strings.ReplaceAll(name, ".", string(filepath.Separator)) + ".lua"
	for _, dir := range mods.Dirs {
		path := filepath.Join(dir, rel)
		real, err := filepath.EvalSymlinks(path)
		if err != nil {
			continue // not there
		}
		if real, err = filepath.Abs(real); err != nil || !mods.Inside(real) {
			L.RaiseError("require %q: %s is a symbolic link out of the modules: directories (to %s)", name, path, real)
		}
		proto, err := l.module(real, filepath.Base(path))
		if err != nil {
			L.RaiseError("require %q: %v", name, err)
		}
		L.Push(L.NewFunctionFromProto(proto))
		L.Call(0, 1)
		v := L.Get(-1)
		L.Pop(1)
		if v == lua.LNil {
			v = lua.LTrue
		}
		loaded.RawSetString(name, v)
		L.Push(v)
		return 1
	}
	L.RaiseError("require %q: no %s in the modules: directories (%s)", name, rel, strings.Join(mods.Dirs, ", "))
	return 0
}

// module returns the module at real, read and compiled at its first
// require in the stage.
func (l *language) module(real, chunkName string) (*lua.FunctionProto, error) {
	l.modMu.Lock()
	defer l.modMu.Unlock()
	if p, ok := l.mods[real]; ok {
		return p, nil
	}
	src, err := os.ReadFile(real)
	if err != nil {
		return nil, err
	}
	chunk, err := parse.Parse(bytes.NewReader(src), chunkName)
	if err != nil {
		return nil, err
	}
	p, err := lua.Compile(chunk, chunkName)
	if err != nil {
		return nil, err
	}
	unboxKeys(p)
	if l.mods == nil {
		l.mods = map[string]*lua.FunctionProto{}
	}
	l.mods[real] = p
	return p, nil
}

var _ engine.Transformer = (*script.Instance)(nil)
