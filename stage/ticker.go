package stage

import (
	"context"
	"time"
)

// Ticker is implemented by transformers that emit records on a clock, with
// no input record to answer: windows that close on time, groups that time
// out. It is what lets `tail -f app.log | pipe run agg.yaml` emit a window
// while no record arrives.
//
// After Open, the engine reads TickInterval once; a positive interval makes
// it call Tick about that often while the stage runs, a zero or negative one
// disables ticking. Tick runs on the goroutine that calls Transform, between
// two batches: never concurrently with another method of the instance, and
// never after the end of input (Flush follows then). now is the time of the
// tick. Ticks are not queued: a tick missed while a batch was being
// processed is dropped (the next one carries a later now).
//
// The records Tick emits have record number 0 and follow every record the
// stage emitted before; they are sent downstream at once. ctx carries the
// stage's timeout and the pipeline's cancellation, as for Transform. An
// error returned by Tick is handled like a Flush error: the stage's
// on_error policy applies with no input record (fail stops the pipeline;
// drop and dead_letter log it and go on), and ErrFatal stops the pipeline.
//
// Ticking needs a single instance: the output of several workers is
// collected in the order of their input batches, which a tick has none of.
// The engine refuses to open a stage whose instances implement Ticker with
// workers > 1 (a configuration error naming the stage's workers:).
type Ticker interface {
	TickInterval() time.Duration
	Tick(ctx context.Context, now time.Time, emit func(*Record)) error
}
