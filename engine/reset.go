package engine

import (
	"fmt"

	"github.com/pipe-dev/pipe/stage"
)

// reset calls the instance's Reset (stage.Resetter) after a call that its
// timeout interrupted, before the instance's next call. A failed reset is
// fatal: the instance cannot be trusted with another record.
func (w *worker) reset() error {
	r, ok := w.t.(stage.Resetter)
	if !ok {
		return nil
	}
	if err := r.Reset(w.parent); err != nil {
		return Fatal(fmt.Errorf("reset after a timeout: %w", err))
	}
	return nil
}
