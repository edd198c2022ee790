package gendata

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// The records are byte for byte those of the shared generator.
func TestSameAsSharedGenerator(t *testing.T) {
	gen := "../../../shared/bench/gen/main.go"
	if _, err := os.Stat(gen); err != nil {
		t.Skipf("shared generator not beside the checkout: %v", err)
	}
	want, err := exec.Command("go", "run", gen, "-n", "2000", "-seed", "42").Output()
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := Write(&got, 2000, 42); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("generated %d bytes differ from the shared generator's %d", got.Len(), len(want))
	}
	var other bytes.Buffer
	Write(&other, 2000, 43)
	if bytes.Equal(other.Bytes(), want) {
		t.Error("the seed changes nothing")
	}
}
