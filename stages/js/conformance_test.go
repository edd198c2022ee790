package js_test

import (
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
	_ "github.com/pipe-dev/pipe/stages/js"
)

// scripts implement the conformance cases the way a user would.
var scripts = map[enginetest.Case]string{
	enginetest.Identity: `return rec`,
	enginetest.Upper:    `return rec.toUpperCase()`,
	enginetest.Drop:     `return rec.startsWith("#") ? null : rec`,
	enginetest.Split:    `rec.split(",").forEach(p => emit(p))`,
	enginetest.Meta:     `meta.out = meta.in + "!"; delete meta.gone; return rec`,
	enginetest.Fail:     `if (rec === "bad") throw new Error("bad record"); return rec`,
	enginetest.Init: `
let prefix;
function init(config) { prefix = config.prefix }
function transform(rec, meta) { return prefix + rec }`,
	enginetest.Flush: `
let n = 0;
function transform(rec) { n++ }
function flush() { emit("count=" + n) }`,
	enginetest.Hang: `if (rec === "hang") { for (;;) {} } return rec`,
	enginetest.JSON: `rec.seen = true; return rec`,
}

func TestConformance(t *testing.T) {
	enginetest.Run(t, func(t *testing.T, c enginetest.Case) engine.StageSpec {
		code, ok := scripts[c]
		if !ok {
			t.Fatalf("no script for %s", c)
		}
		return engine.StageSpec{Type: "js", Code: code}
	}, enginetest.Options{})
}
