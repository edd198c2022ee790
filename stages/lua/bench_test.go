package lua_test

import (
	"testing"

	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

// BenchmarkWorkloads runs bench/workloads/lua's W1-W3 on one instance,
// record by record and a batch at a time:
//
//	go test -run '^$' -bench Workloads -benchtime 200x ./stages/lua
func BenchmarkWorkloads(b *testing.B) {
	scripttest.Bench(b, "lua", scripttest.Workloads(b, "../../bench/workloads", "lua"))
}
