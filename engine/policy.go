package engine

import "errors"

// onError applies an on_error policy to a failed record of a stage, the
// input or the output: the one place that knows what fail, drop and
// dead_letter mean. where names the stage in the dead letter; rec may be
// nil (a failed flush). It counts the error (and timeouts) in c and returns
// the error that stops the pipeline, nil when the run goes on: stop under
// fail, or a dead-letter write error.
func onError(policy string, rs *runState, c *counters, where string, rec *Record, cause, stop error) error {
	c.errors.Add(1)
	if errors.Is(cause, ErrStageTimeout) {
		c.timeouts.Add(1)
	}
	switch policy {
	case OnErrorDrop:
		return nil
	case OnErrorDeadLetter:
		if err := rs.dl.write(where, rec, cause); err != nil {
			return err
		}
		c.dead.Add(1)
		return nil
	}
	return stop
}
