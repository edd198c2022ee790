package stage

// Retainer is implemented by stateful transformers whose output carries the
// effect of input records consumed earlier: windows, aggregates, counts,
// buffers. It lets the engine hold back the acknowledgement of those input
// records (a checkpoint, a broker acknowledgement) until what carries their
// effect was emitted and written by the output, so that a crash before a
// window closed makes the input read the window's records again instead of
// losing them (at-least-once delivery). A transformer that consumes
// records without implementing Retainer has them counted as dropped:
// acknowledged as soon as their batch reaches the output.
//
// Retained returns n >= 0: every record whose effect the instance holds and
// has not emitted yet is among the last n records passed to this instance.
// Records are counted in call order, each record of each Transform call and
// each record of each TransformBatch call (a batch re-run record by record
// after a failed call counts again), whatever the call returned. 0 means
// the instance holds nothing: everything it consumed was emitted or is
// discarded for good (a failed record, a late record dropped). A larger n
// than needed is safe (acknowledgements wait longer); a smaller one lets a
// crash lose the effect of records that were acknowledged.
//
// The engine calls Retained on the goroutine that makes the instance's
// other calls, never concurrently with them: after the calls for each batch
// and after each Tick. The records emitted by those calls are written by
// the output before the input records that Retained no longer covers are
// acknowledged. After Flush the engine takes n as 0 (what Flush did not
// emit is gone with the instance). Acknowledgements come in read order, so
// the oldest held record holds back every later one as well: an instance
// should emit (close its windows) within a bounded time or number of
// records if its input is to make progress (a followed file's checkpoint,
// a broker's redelivery window).
type Retainer interface {
	Retained() int64
}
