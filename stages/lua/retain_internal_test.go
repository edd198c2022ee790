package lua

import (
	"strings"
	"testing"

	"github.com/yuin/gopher-lua/parse"
)

// keepsNothing accepts bodies that only read globals of safeGlobals and
// write locals and fields of the call's values, and refuses anything that
// could keep a value for the next call.
func TestKeepsNothing(t *testing.T) {
	for _, c := range []struct {
		code string
		want bool
	}{
		// bench/workloads/lua W1-W3
		{`if rec.level ~= "error" then return nil end rec.msg = string.upper(rec.msg) rec.processed = true return rec`, true},
		{`return string.upper(rec)`, true},
		{"local tags = rec.tags rec.tags = nil for _, t in ipairs(tags) do rec.tag = t emit(rec) end", true},
		{`local t = {} table.insert(t, rec.a) t[#t + 1] = rec return {xs = t, n = math.floor(rec.n), s = rec:upper()}`, true},
		{`local x = pipe.json.decode(rec) x.y = pipe.null return pipe.json.encode(x)`, true},
		{`meta.k = rec.v local a, b = ... for i = 1, 3 do a[i] = b end repeat local z = 1 until z return rec`, true},
		{`local f = ("x").upper return f(rec)`, true},
		{`local s = ("x").__index s.keep = rec return rec`, true}, // nil: strings' metatable is not string (see TestStringMetatable)
		{`local string = {} string.x = rec return rec`, true},     // a local named string
		{`while rec.n > 0 do rec.n = rec.n - 1 end do local q = rec end return #rec.tags, -rec.n, not rec.ok`, true},
		// globals written, or read outside safeGlobals
		{`last = rec return rec`, false},
		{`string.keep = rec return rec`, false},
		{`string["keep"] = rec return rec`, false},
		{`pipe.null.x = 1 return rec`, false},
		{`local s = string s.keep = rec return rec`, false},
		{`table.insert(kept, rec) return rec`, false},
		{`return getmetatable("").__index`, false},
		{`rawset(_G, "k", rec) return rec`, false},
		{`setmetatable(rec, {}) return rec`, false},
		{`local t = _G t.k = rec return rec`, false},
		{`string[rec.k](rec) return rec`, false},
		{`require("m").keep(rec) return rec`, false},
		{`print(rec) return rec`, false},
		{`pipe.log.info(rec) return rec`, false},
		{`pcall(emit, rec) return rec`, false},
		{`loadstring("k = ...")(rec) return rec`, false},
		// functions: closures keep upvalues
		{`local function f() return rec end return f()`, false},
		{`local f = function() return rec end return f()`, false},
		{`function f() end return rec`, false},
		// a local's scope ends with its block
		{`do local string = {} end string.x = rec return rec`, false},
		{`for i = 1, 2 do local k = i end k = rec return rec`, false},
		{`if rec.a then local m = {} end m = rec return rec`, false},
		{`local x = x x = rec return rec`, false},
	} {
		chunk, err := parse.Parse(strings.NewReader(c.code), "t")
		if err != nil {
			t.Fatalf("%s: %v", c.code, err)
		}
		if got := keepsNothing(chunk); got != c.want {
			t.Errorf("keepsNothing(%s) = %v, want %v", c.code, got, c.want)
		}
	}
}
