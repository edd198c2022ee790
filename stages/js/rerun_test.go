package js_test

import (
	"testing"

	"github.com/pipe-dev/pipe/stages/internal/script/scripttest"
)

// When a batch call times out, the engine runs the batch's records again
// one by one: the records before the culprit must be run on their input
// again, not on the output the failed call had already given them (which
// made "ax" into "axx").
func TestBatchTimeoutReRunsInput(t *testing.T) {
	yaml := `input: {codec: lines}
stages:
  - name: t
    type: js
    timeout: 2s
    on_error: drop
    code: |
      if (rec === "c") { while (true) {} }
      return rec + "x"
`
	out, _, err := scripttest.Run(t, yaml, "a\nb\nc\nd\n")
	if err != nil {
		t.Fatal(err)
	}
	if out != "ax\nbx\ndx\n" {
		t.Errorf("output %q, want %q", out, "ax\nbx\ndx\n")
	}
}
