package pin_test

import (
	"testing"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/pin"
)

// Check without a pinned hash passes anything, and tolerates nil events;
// pinned hashes are tested through each kind (pintest.Run).
func TestCheckUnpinned(t *testing.T) {
	spec := &engine.StageSpec{Name: "s", Type: "lua", Path: "x.lua"}
	if err := pin.Check(spec, nil, "x.lua", []byte("anything")); err != nil {
		t.Errorf("unpinned: %v", err)
	}
}
