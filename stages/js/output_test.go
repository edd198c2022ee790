package js_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

// Batches and their output arenas are reused once written (batches let go
// of their records' bytes then): over many batches, two workers and two
// script stages (the second appends to the arena the first wrote in),
// every record must come out whole and in order, and strings a script
// kept from earlier records must not change (they are the script's, not
// the batch's or its arena's).
func TestOutputOverManyBatches(t *testing.T) {
	yaml := `input: {codec: lines}
stages:
  - name: up
    type: js
    workers: 2
    code: |
      var kept = [];
      function transform(rec) {
        var out = rec.toUpperCase();
        if (rec.length % 97 === 0) { kept.push(out); }
        if (rec.indexOf("emit") >= 0) { emit(rec + "+"); }
        if (rec.indexOf("json") >= 0) { return {line: out}; }
        return out;
      }
      function flush() {
        for (var i = 0; i < kept.length; i++) {
          if (kept[i] !== kept[i].toUpperCase() || kept[i].length % 97 !== 0) { throw new Error("kept string changed: " + kept[i]); }
        }
        emit("kept " + kept.length);
      }
  - name: tag
    type: js
    workers: 2
    code: 'return rec + "!"'
`
	var in, want strings.Builder
	for i := range 20000 {
		line := fmt.Sprintf("r%d %s", i, strings.Repeat("é"[:i%2*2]+"x", i%300))
		switch i % 41 {
		case 7:
			line += " emit"
		case 9:
			line += " json"
		}
		in.WriteString(line + "\n")
		if strings.Contains(line, "emit") {
			want.WriteString(line + "+!\n")
		}
		if strings.Contains(line, "json") {
			want.WriteString(`{"line":"` + strings.ToUpper(line) + `"}!` + "\n")
			continue
		}
		want.WriteString(strings.ToUpper(line) + "!\n")
	}
	out, _, err := scripttest.Run(t, yaml, in.String())
	if err != nil {
		t.Fatal(err) // a flush that found a kept string changed fails the run
	}
	// Each worker's flush emits its count of kept strings, last.
	g, w := strings.Split(out, "\n"), strings.Split(want.String(), "\n")
	if len(g) != len(w)+2 || !strings.HasPrefix(g[len(g)-3], "kept ") || !strings.HasPrefix(g[len(g)-2], "kept ") {
		t.Fatalf("%d lines ending %q; want %d and the flushes' two", len(g), g[max(0, len(g)-3):], len(w))
	}
	for i := range len(w) - 1 {
		if g[i] != w[i] {
			t.Fatalf("record %d: %.80q; want %.80q", i, g[i], w[i])
		}
	}
}
