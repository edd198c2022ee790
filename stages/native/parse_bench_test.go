package native_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// The parsing benchmarks run one stage instance over 100k generated lines
// (cycled): ns/op is ns per record.
//
//	go test ./stages/native -run '^$' -bench Parse -benchmem

const benchLines = 100_000

var (
	benchLevels = []string{"debug", "info", "warn", "error"}
	benchPaths  = []string{"/", "/api/v1/items", "/login", "/static/app.js", "/api/v1/items/42?full=true"}
)

func genLines(f func(rng *rand.Rand, i int) string) [][]byte {
	rng := rand.New(rand.NewPCG(7, 11))
	out := make([][]byte, benchLines)
	for i := range out {
		out[i] = []byte(f(rng, i))
	}
	return out
}

func combinedLine(rng *rand.Rand, i int) string {
	return fmt.Sprintf(`10.0.%d.%d - user%d [10/Oct/2024:13:%02d:%02d +0000] "GET %s HTTP/1.1" %d %d "-" "curl/8.%d"`,
		rng.IntN(256), rng.IntN(256), i%100, rng.IntN(60), rng.IntN(60), benchPaths[rng.IntN(len(benchPaths))],
		[]int{200, 200, 200, 404, 500}[rng.IntN(5)], rng.IntN(100000), rng.IntN(10))
}

func benchStage(b *testing.B, use string, config map[string]any, lines [][]byte) {
	n, ok := engine.DefaultRegistry.LookupNative(use)
	if !ok {
		b.Fatalf("%s not registered", use)
	}
	tr, err := n.New(engine.ConfigOf(config))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var rec engine.Record
	outs := 0
	emit := func(*engine.Record) { outs++ }
	// Every line must parse: a benchmark of the error path measures nothing.
	for _, l := range lines[:1000] {
		rec.Data = l
		if err := tr.Transform(ctx, &rec, emit); err != nil {
			b.Fatalf("%s: %q: %v", use, l, err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		rec.Data = lines[i%len(lines)]
		if err := tr.Transform(ctx, &rec, emit); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseLogfmt(b *testing.B) {
	lines := genLines(func(rng *rand.Rand, i int) string {
		return fmt.Sprintf(`ts=2024-10-10T13:55:%02dZ level=%s service=svc-%d msg="request done" path=%s status=%d latency_ms=%d.%d`,
			rng.IntN(60), benchLevels[rng.IntN(4)], rng.IntN(20), benchPaths[rng.IntN(len(benchPaths))],
			[]int{200, 404, 500}[rng.IntN(3)], rng.IntN(1000), rng.IntN(10))
	})
	benchStage(b, "parse_logfmt", map[string]any{"types": map[string]any{"status": "int", "latency_ms": "float"}}, lines)
}

func BenchmarkParseKV(b *testing.B) {
	lines := genLines(func(rng *rand.Rand, i int) string {
		return fmt.Sprintf(`user=u%d&page=%d&sort=%s&q=item%d`, rng.IntN(1000), rng.IntN(50), benchLevels[rng.IntN(4)], i)
	})
	benchStage(b, "parse_kv", map[string]any{"field_split": "&"}, lines)
}

func BenchmarkParseRegex(b *testing.B) {
	benchStage(b, "parse_regex", map[string]any{
		"pattern": `^(?P<client>\S+) \S+ (?P<user>\S+) \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" (?P<status>\d+) (?P<bytes>\d+)`,
		"types":   map[string]any{"status": "int", "bytes": "int"},
	}, genLines(combinedLine))
}

func BenchmarkParseGrok(b *testing.B) {
	benchStage(b, "grok", map[string]any{"patterns": []any{"%{COMBINEDAPACHELOG}"}}, genLines(combinedLine))
}

func BenchmarkParseCSV(b *testing.B) {
	lines := genLines(func(rng *rand.Rand, i int) string {
		return fmt.Sprintf(`%d,svc-%d,"GET %s",%d,%d.%d`, i, rng.IntN(20), benchPaths[rng.IntN(len(benchPaths))],
			[]int{200, 404, 500}[rng.IntN(3)], rng.IntN(1000), rng.IntN(10))
	})
	benchStage(b, "parse_csv", map[string]any{"columns": []any{"id", "service", "request", "status", "latency_ms"},
		"types": map[string]any{"id": "int", "status": "int", "latency_ms": "float"}}, lines)
}

func BenchmarkParseSyslog(b *testing.B) {
	lines := genLines(func(rng *rand.Rand, i int) string {
		if i%2 == 0 {
			return fmt.Sprintf(`<%d>1 2024-10-10T13:55:%02d.%03dZ host%d app%d %d ID%d [meta@1 seq="%d"] message number %d`,
				rng.IntN(192), rng.IntN(60), rng.IntN(1000), rng.IntN(10), rng.IntN(5), rng.IntN(65536), rng.IntN(100), i, i)
		}
		return fmt.Sprintf(`<%d>Oct %2d 13:55:%02d host%d sshd[%d]: message number %d`,
			rng.IntN(192), 1+rng.IntN(28), rng.IntN(60), rng.IntN(10), rng.IntN(65536), i)
	})
	benchStage(b, "parse_syslog", nil, lines)
}

func BenchmarkParseJSON(b *testing.B) {
	lines := genLines(func(rng *rand.Rand, i int) string {
		return fmt.Sprintf(`{"id":%d,"level":%q,"msg":"request done","latency_ms":%d,"tags":["a","b"]}`, i, benchLevels[rng.IntN(4)], rng.IntN(1000))
	})
	benchStage(b, "parse_json", nil, lines)
}

func BenchmarkParseTime(b *testing.B) {
	lines := genLines(func(rng *rand.Rand, i int) string {
		return fmt.Sprintf(`%02d/Oct/2024:13:%02d:%02d +0200`, 1+rng.IntN(28), rng.IntN(60), rng.IntN(60))
	})
	benchStage(b, "parse_time", map[string]any{"formats": []any{"%d/%b/%Y:%H:%M:%S %z"}}, lines)
}

func BenchmarkParseTimeRFC3339(b *testing.B) {
	lines := genLines(func(rng *rand.Rand, i int) string {
		return fmt.Sprintf(`2024-10-%02dT13:%02d:%02d.%06dZ`, 1+rng.IntN(28), rng.IntN(60), rng.IntN(60), rng.IntN(1000000))
	})
	benchStage(b, "parse_time", map[string]any{"output": "unix_ms"}, lines)
}

// BenchmarkParseLogfmtField parses a JSON string field and merges the
// fields into the record.
func BenchmarkParseLogfmtField(b *testing.B) {
	lines := genLines(func(rng *rand.Rand, i int) string {
		return fmt.Sprintf(`{"host":"h%d","log":"level=%s status=%d msg=\"request done\""}`, rng.IntN(10), benchLevels[rng.IntN(4)], 200+rng.IntN(300))
	})
	benchStage(b, "parse_logfmt", map[string]any{"field": "log", "remove_field": true}, lines)
}
