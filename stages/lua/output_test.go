package lua_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

// emitYAML emits a lazy record per tag, then keeps some records in a
// global until flush.
const emitYAML = `input: {codec: ndjson}
stages:
  - name: per-tag
    type: lua
    workers: 2
    code: |
      local tags = rec.tags
      rec.tags = nil
      for _, t in ipairs(tags) do
        rec.tag = t
        emit(rec)
      end
      if #tags == 0 then emit(rec) end
  - name: keep
    type: lua
    workers: 2
    code: |
      kept = {}
      function transform(rec)
        if rec.n % 53 == 0 then kept[#kept + 1] = {rec, rec.tag} end
        return rec
      end
      function flush()
        for _, k in ipairs(kept) do
          if k[1].n % 53 ~= 0 or k[1].tag ~= k[2] then error("kept record changed") end
        end
        emit({kept = #kept})
      end
`

// Records a Lua stage emits from a lazy record are cut from the batch's
// output arena (script.Instance.Output): over many batches and two
// workers, followed by a stage that keeps some of them in a global until
// flush, every record comes out as emitted and none kept changes.
func TestEmitOverManyBatches(t *testing.T) {
	var in, want strings.Builder
	kept := 0
	for i := range 20000 {
		x := strings.Repeat("y", i%300)
		var tags []string
		for j := range i % 4 {
			tags = append(tags, fmt.Sprintf("%q", fmt.Sprint("t", i%7+j)))
		}
		fmt.Fprintf(&in, `{"n":%d,"x":"%s","tags":[%s]}`+"\n", i, x, strings.Join(tags, ","))
		if len(tags) == 0 {
			fmt.Fprintf(&want, `{"n":%d,"x":"%s"}`+"\n", i, x)
		}
		for _, tag := range tags {
			fmt.Fprintf(&want, `{"n":%d,"x":"%s","tag":%s}`+"\n", i, x, tag)
		}
		if i%53 == 0 {
			kept += max(1, len(tags))
		}
	}
	out, _, err := scripttest.Run(t, emitYAML, in.String())
	if err != nil {
		t.Fatal(err) // a flush that found a kept record changed fails the run
	}
	g, w := strings.Split(out, "\n"), strings.Split(want.String(), "\n")
	if len(g) != len(w)+2 {
		t.Fatalf("%d lines ending %q; want %d and the flushes' two", len(g), g[max(0, len(g)-3):], len(w))
	}
	for i := range len(w) - 1 {
		if g[i] != w[i] {
			t.Fatalf("record %d: %.80q; want %.80q", i, g[i], w[i])
		}
	}
	var n1, n2 int
	if _, err := fmt.Sscanf(g[len(g)-3]+" "+g[len(g)-2], `{"kept":%d} {"kept":%d}`, &n1, &n2); err != nil || n1+n2 != kept {
		t.Fatalf("flushes %q %q; want %d kept in all", g[len(g)-3], g[len(g)-2], kept)
	}
}
