package rpc_test

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// TestNodePlugin runs the W2 workload with the Node.js plugin
// (testdata/node/w2.js, written from PROTOCOL.md without the Go SDK).
func TestNodePlugin(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node is not installed (make fixtures installs the npm packages; CI has node)")
	}
	if _, err := os.Stat("testdata/node/node_modules/@grpc/grpc-js"); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = "testdata/node"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in testdata/node: %v\n%s", err, out)
		}
	}
	in := benchData(t, 10000)
	for _, workers := range []int{1, 2} {
		got := runWorkload(t, loadWorkload(t, "w2-node", workers), in)
		if !bytes.Equal(got, bytes.ToUpper(in)) {
			t.Fatalf("workers %d: W2 output of the Node.js plugin is not the upper-cased input (%d bytes, want %d)", workers, len(got), len(in))
		}
	}
}
