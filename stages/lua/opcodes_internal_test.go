package lua

import (
	"fmt"
	"strings"
	"testing"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"
)

// runPlain runs code in a plain state, compiled as is or with unboxKeys,
// with gopher-lua's ipairs or installIpairs': what it returns, or its
// error.
func runPlain(t *testing.T, code string, ours bool) string {
	t.Helper()
	L := lua.NewState()
	defer L.Close()
	if ours {
		installIpairs(L)
	}
	chunk, err := parse.Parse(strings.NewReader(code), "t")
	if err != nil {
		t.Fatal(err)
	}
	proto, err := lua.Compile(chunk, "t")
	if err != nil {
		t.Fatal(err)
	}
	if ours {
		unboxKeys(proto)
	}
	L.Push(L.NewFunctionFromProto(proto))
	if err := L.PCall(0, 1, nil); err != nil {
		return "error: " + err.Error()
	}
	return L.Get(-1).String()
}

// manyConstants is a chunk prefix with more than 256 constants, so that
// later constant keys are loaded into registers (RK past its 8 bits).
var manyConstants = func() string {
	var b strings.Builder
	b.WriteString("local pad = {")
	for i := range 300 {
		fmt.Fprintf(&b, "%q,", fmt.Sprint("c", i))
	}
	b.WriteString("}\n")
	return b.String()
}()

// unboxKeys and installIpairs change no result nor error: field reads and
// writes on tables, on tables whose metatable resolves them (functions,
// tables), on strings, method calls, nested functions, constants past
// RK's range; ipairs over holes, past 256 elements, on a table with
// __index, changed while iterated, on what is not a table.
func TestUnboxKeysAndIpairsSameResults(t *testing.T) {
	for _, code := range []string{
		`local t = {a = 1} t.b = 2 t.a = t.a + t.b return t.a .. "," .. tostring(t.c)`,
		`local log = {}
		 local p = setmetatable({}, {__index = function(_, k) log[#log + 1] = "get " .. k return k .. "!" end,
		   __newindex = function(_, k, v) log[#log + 1] = "set " .. k .. "=" .. tostring(v) end})
		 local x = p.foo p.bar = 3 p.baz = nil
		 return x .. " " .. table.concat(log, ";")`,
		`local base = {greet = function(self, n) return "hi " .. n end}
		 local o = setmetatable({}, {__index = base})
		 return o:greet("x") .. o.greet(o, "y") .. tostring(o.missing)`,
		`local s = "abc" return s:upper() .. string.upper(s) .. type(("x").len)`,
		`local function mk() local t = {} return function(v) t.v = v return t.v end end local f = mk() return f(5)`,
		manyConstants + `local t = {} t.k300 = "a" t.k301 = t.k300 .. "b" local p = setmetatable({}, {__index = function(_, k) return k end}) return t.k301 .. p.k302`,
		`local s = 0 for i, v in ipairs({1, 2, nil, 4}) do s = s + i * v end return s`,
		`local t = {} for i = 1, 600 do t[i] = i end local s, n = 0, 0 for i, v in ipairs(t) do s = s + v n = i end return s .. "/" .. n`,
		`local t = setmetatable({1, 2}, {__index = function(_, i) return i * 10 end}) local n = 0 for _ in ipairs(t) do n = n + 1 end return n`,
		`local t = {1, 2, 3} local out = {} for i, v in ipairs(t) do out[#out + 1] = v if i == 1 then t[3] = nil t[2] = 20 end end return table.concat(out, ",")`,
		`local f, t, i = ipairs({"a"}) return type(f) .. type(t) .. i`,
		`for _ in ipairs(nil) do end`,
		`for _ in ipairs("abc") do end`,
		`local f = ipairs({}) return f({"x"}, "y")`,
		`local t = nil return t.x`,
		`local t = nil t.x = 1`,
	} {
		want, got := runPlain(t, code, false), runPlain(t, code, true)
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", code, got, want)
		}
	}
}

// The rewrite leaves no GETTABLEKS nor SETTABLEKS but a library table's
// field, in nested functions too.
func TestUnboxKeysRewrites(t *testing.T) {
	chunk, err := parse.Parse(strings.NewReader(`local r = ... r.a = r.b return function(x) x.c = string.upper(x.d) return x end`), "t")
	if err != nil {
		t.Fatal(err)
	}
	proto, err := lua.Compile(chunk, "t")
	if err != nil {
		t.Fatal(err)
	}
	count := func(p *lua.FunctionProto) (ks, libKS int) {
		var walk func(p *lua.FunctionProto)
		walk = func(p *lua.FunctionProto) {
			for i, inst := range p.Code {
				switch int(inst >> opShift) {
				case lua.OP_SETTABLEKS:
					ks++
				case lua.OP_GETTABLEKS:
					if i > 0 && int(p.Code[i-1]>>opShift) == lua.OP_GETGLOBAL {
						libKS++
					} else {
						ks++
					}
				}
			}
			for _, f := range p.FunctionPrototypes {
				walk(f)
			}
		}
		walk(p)
		return ks, libKS
	}
	if ks, lib := count(proto); ks != 4 || lib != 1 {
		t.Fatalf("compiled: %d KS instructions, %d of a library table; want 4 and 1", ks, lib)
	}
	if ks, lib := count(unboxKeys(proto)); ks != 0 || lib != 1 {
		t.Fatalf("rewritten: %d KS instructions, %d of a library table; want 0 and 1", ks, lib)
	}
}

func TestIntValue(t *testing.T) {
	for _, i := range []int{0, 1, 255, 256, -1, 1 << 40} {
		v := intValue(i)
		if n, ok := v.(lua.LNumber); !ok || n != lua.LNumber(i) || v != lua.LValue(lua.LNumber(i)) {
			t.Errorf("intValue(%d) = %#v", i, v)
		}
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = intValue(200) }); allocs != 0 {
		t.Errorf("intValue(200) allocates %v times", allocs)
	}
}
