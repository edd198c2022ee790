package js_test

import (
	"testing"

	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

// BenchmarkWorkloads runs bench/workloads/js's W1-W3 on one instance,
// record by record and a batch at a time:
//
//	go test -run '^$' -bench Workloads -benchtime 200x ./stages/js
func BenchmarkWorkloads(b *testing.B) {
	scripttest.Bench(b, "js", scripttest.Workloads(b, "../../bench/workloads", "js"))
}
