package engine

import "github.com/pipe-dev/pipe/stage"

// Retainer is an alias of stage.Retainer.
type Retainer = stage.Retainer

// Acknowledgements held by stateful stages (stage.Retainer). A batch keeps
// its input batch's acknowledgement token as it moves through the stages;
// a worker whose instance retains records takes the token off each batch
// it processed and keeps it, with the number of records the batch gave the
// instance, until Retained says that none of those records is held any
// more. Released tokens ride on the next batch the worker sends (the one
// carrying the emitted window, or a later one), joined into one token, so
// they are settled when the output wrote it. After a Flush every token is
// released with the flush batch; a run that fails leaves them to the
// acker, which settles them as not delivered when it closes.

// retention is a worker's held acknowledgements (nil when its instance is
// no Retainer).
type retention struct {
	r    Retainer
	held []heldAck // oldest first
}

type heldAck struct {
	tok ackToken
	n   int64 // records the batch gave the instance
}

func newRetention(t Transformer) *retention {
	r, ok := t.(Retainer)
	if !ok {
		return nil
	}
	return &retention{r: r}
}

// processed takes b's token after the instance was given n of its
// records, and gives b the tokens that Retained no longer covers.
func (rt *retention) processed(b *batch, n int64) {
	if len(rt.held) == 0 && !b.ack.tracked() {
		return // nothing waits for this batch (stdin)
	}
	rt.held = append(rt.held, heldAck{tok: b.ack, n: n})
	b.ack = rt.release(rt.r.Retained())
}

// ticked gives a tick's batch the tokens Retained no longer covers.
func (rt *retention) ticked(b *batch) {
	if len(rt.held) > 0 {
		b.ack = join(b.ack, rt.release(rt.r.Retained()))
	}
}

// flushed gives the flush batch every token still held.
func (rt *retention) flushed(b *batch) {
	if len(rt.held) > 0 {
		b.ack = join(b.ack, rt.release(0))
	}
}

// release returns, joined into one token, the tokens of the oldest held
// batches that the last retained records (the newest) do not reach.
func (rt *retention) release(retained int64) ackToken {
	k := len(rt.held)
	for sum := int64(0); k > 0 && sum < retained; {
		k--
		sum += rt.held[k].n
	}
	if k == 0 {
		return ackToken{}
	}
	var tok ackToken
	if k == 1 {
		tok = rt.held[0].tok
	} else {
		toks := make([]ackToken, k)
		for i := range k {
			toks[i] = rt.held[i].tok
		}
		tok = shareAck(1, toks...).token()
	}
	n := copy(rt.held, rt.held[k:])
	clear(rt.held[n:])
	rt.held = rt.held[:n]
	return tok
}

// join returns one token that settles a and b.
func join(a, b ackToken) ackToken {
	switch {
	case !b.tracked():
		return a
	case !a.tracked():
		return b
	}
	return shareAck(1, a, b).token()
}
