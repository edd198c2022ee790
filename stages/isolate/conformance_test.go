package isolate_test

import (
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
)

// The conformance cases as scripts, for the isolated lua and js stages:
// isolation changes where a stage runs, not what it does.
var conformance = map[string]map[enginetest.Case]string{
	"js": {
		enginetest.Identity: `return rec`,
		enginetest.Upper:    `return rec.toUpperCase()`,
		enginetest.Drop:     `return rec.startsWith("#") ? null : rec`,
		enginetest.Split:    `rec.split(",").forEach(p => emit(p))`,
		enginetest.Meta:     `meta.out = meta.in + "!"; delete meta.gone; return rec`,
		enginetest.Fail:     `if (rec === "bad") throw new Error("bad record"); return rec`,
		enginetest.Init:     "let prefix;\nfunction init(config) { prefix = config.prefix }\nfunction transform(rec, meta) { return prefix + rec }",
		enginetest.Flush:    "let n = 0;\nfunction transform(rec) { n++ }\nfunction flush() { emit(\"count=\" + n) }",
		enginetest.Hang:     `if (rec === "hang") { for (;;) {} } return rec`,
		enginetest.JSON:     `rec.seen = true; return rec`,
	},
	"lua": {
		enginetest.Identity: `return rec`,
		enginetest.Upper:    `return string.upper(rec)`,
		enginetest.Drop:     `if rec:sub(1, 1) == "#" then return nil end return rec`,
		enginetest.Split:    `for p in rec:gmatch("[^,]+") do emit(p) end`,
		enginetest.Meta:     `meta.out = meta["in"] .. "!"; meta.gone = nil; return rec`,
		enginetest.Fail:     `if rec == "bad" then error("bad record") end return rec`,
		enginetest.Init:     "local prefix\nfunction init(config) prefix = config.prefix end\nfunction transform(rec, meta) return prefix .. rec end",
		enginetest.Flush:    "local n = 0\nfunction transform(rec) n = n + 1 end\nfunction flush() emit(\"count=\" .. n) end",
		enginetest.Hang:     `if rec == "hang" then while true do end end return rec`,
		enginetest.JSON:     `rec.seen = true; return rec`,
	},
}

func TestConformance(t *testing.T) {
	for kind, scripts := range conformance {
		t.Run(kind, func(t *testing.T) {
			enginetest.Run(t, func(t *testing.T, c enginetest.Case) engine.StageSpec {
				code, ok := scripts[c]
				if !ok {
					t.Fatalf("no %s script for %s", kind, c)
				}
				return engine.StageSpec{Type: kind, Code: code, Isolation: engine.IsolationProcess}
			}, enginetest.Options{HangTimeout: 2 * time.Second})
		})
	}
}
