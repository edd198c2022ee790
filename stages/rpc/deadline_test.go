package rpc_test

import (
	"strconv"
	"testing"
	"time"
)

// The plugin's context has the stage's per-record timeout as its deadline
// (the gRPC deadline PROTOCOL.md promises), and none with timeout: 0.
func TestPluginSeesDeadline(t *testing.T) {
	sp := casesSpec("deadline")
	timeout := 3 * time.Second
	sp.Timeout = &timeout
	r := runStage(t, sp, []string{"a", "b"})
	if r.err != nil || len(r.out) != 2 {
		t.Fatalf("err %v, out %q", r.err, r.out)
	}
	for _, o := range r.out {
		left, err := strconv.ParseInt(o, 10, 64)
		if err != nil || left <= 0 || time.Duration(left) > timeout {
			t.Errorf("the plugin's deadline leaves %q, want between 0 and %v", o, timeout)
		}
	}
	zero := time.Duration(0)
	sp.Timeout = &zero
	if r := runStage(t, sp, []string{"a"}); r.err != nil || len(r.out) != 1 || r.out[0] != "none" {
		t.Errorf("timeout: 0: err %v, out %q; want no deadline", r.err, r.out)
	}
}
