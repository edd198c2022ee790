package lua_test

import (
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
	_ "github.com/pipe-dev/pipe/stages/lua"
)

// scripts implement the conformance cases the way a user would.
var scripts = map[enginetest.Case]string{
	enginetest.Identity: `return rec`,
	enginetest.Upper:    `return string.upper(rec)`,
	enginetest.Drop:     `if string.sub(rec, 1, 1) == "#" then return nil end return rec`,
	enginetest.Split:    `for part in string.gmatch(rec, "[^,]+") do emit(part) end`,
	enginetest.Meta:     `meta.out = meta["in"] .. "!"; meta.gone = nil; return rec`,
	enginetest.Fail:     `if rec == "bad" then error("bad record") end return rec`,
	enginetest.Init: `
local prefix
function init(config) prefix = config.prefix end
function transform(rec, meta) return prefix .. rec end`,
	enginetest.Flush: `
local n = 0
function transform(rec) n = n + 1 end
function flush() emit("count=" .. n) end`,
	enginetest.Hang: `if rec == "hang" then while true do end end return rec`,
	enginetest.JSON: `rec.seen = true return rec`,
}

func TestConformance(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, c enginetest.Case) engine.StageSpec {
		code, ok := scripts[c]
		if !ok {
			t.Fatalf("no script for %s", c)
		}
		return engine.StageSpec{Type: "lua", Code: code}
	}, enginetest.Options{})
}
