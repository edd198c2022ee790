package engine

import (
	"testing"

	"github.com/pipe-dev/pipe/component"
)

// ownSize is a connector's own size type (connectors do not import the
// engine).
type ownSize int64

func (ownSize) ConfigType() string { return component.Size }

func TestDecodeOwnSizeType(t *testing.T) {
	var c struct {
		Max     ownSize `yaml:"max"`
		Default ownSize `yaml:"default" default:"64KiB"`
	}
	if err := ConfigOf(map[string]any{"max": "16MiB"}).Decode(&c); err != nil {
		t.Fatal(err)
	}
	if c.Max != 16<<20 || c.Default != 64<<10 {
		t.Errorf("decoded %d and %d, want 16MiB and 64KiB", c.Max, c.Default)
	}
	if err := ConfigOf(map[string]any{"max": "lots"}).Decode(&c); err == nil {
		t.Error(`"lots" decoded as a size`)
	}
}
