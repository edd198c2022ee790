package engine

import (
	"bytes"
	"context"
	"io"
	"runtime"

	"github.com/pipe-dev/pipe/engine/internal/codec"
)

// Read-ahead: for a stream whose reads return promptly (files), one
// goroutine calls read(2) into batch arenas while the input's goroutine
// frames the previous read, so that copying from the page cache and
// framing lines run on two cores instead of one after the other (W0 spent
// 45% of its time in read and 43% framing, on one goroutine).
//
// The reader leaves aheadReserve bytes free at the front of each arena: the
// unfinished last line of the previous read is copied there, in front of
// the bytes that continue it, so records stay sub-slices of the arena that
// was read into (no copy but of that one line). A line longer than the
// reserve is gathered in the carried batch instead, as readLines does.

// aheadReserve is the room for the unfinished line carried into a read.
const aheadReserve = 4 << 10

// aheadDepth is how many reads the reader may be ahead of the framer.
const aheadDepth = 2

// readAhead reports whether a stream of this input is read ahead: the
// reads must return promptly once the run stops (the framer waits for the
// reader), and there must be a second core to run it on.
func readAhead(interruptible bool) bool {
	return interruptible && runtime.GOMAXPROCS(0) > 1
}

// chunk is one read: arena[aheadReserve:] holds its bytes. With lo < hi,
// the reader checked the ndjson lines of arena[lo:hi] (codec.CheckLines):
// those starting at invalid are malformed.
type chunk struct {
	b       *batch
	err     error
	lo, hi  int
	invalid []int
}

// reader reads r into fresh batch arenas until an error (io.EOF included)
// or quit closes; it closes chunks when it returns. With check (ndjson), it
// also checks the JSON of the whole lines of every other read, so that the
// check, most of the framer's work on ndjson, runs on both goroutines.
func aheadReader(r io.Reader, chunks chan<- chunk, quit <-chan struct{}, check bool) {
	defer close(chunks)
	for seq := 0; ; seq++ {
		select {
		case <-quit:
			return
		default:
		}
		b := getBatch()
		buf := b.arena[:cap(b.arena)]
		n, err := r.Read(buf[aheadReserve:])
		b.arena = buf[:aheadReserve+n]
		c := chunk{b: b, err: err}
		if check && seq%2 == 1 {
			// The lines after the first newline up to the last: the first
			// continues the carried line, the framer checks it.
			data := b.arena[aheadReserve:]
			first, last := bytes.IndexByte(data, '\n'), bytes.LastIndexByte(data, '\n')
			if first >= 0 && last > first {
				c.lo, c.hi = aheadReserve+first+1, aheadReserve+last+1
				c.invalid = codec.CheckLines(b.arena[:c.hi], c.lo, nil)
			}
		}
		select {
		case chunks <- c:
		case <-quit:
			putBatch(b)
			return
		}
		if err != nil {
			return
		}
	}
}

// readLinesAhead is readLines with the reads on another goroutine. stop
// cancels the context of the stream's reads: when the framer stops before
// the end of the stream, it ends a read that waits for more (a followed
// file in the middle of a long line), and the framer waits for the reader
// to return before the stream is closed.
func (in *inputRun) readLinesAhead(r io.Reader, stop context.CancelFunc) error {
	chunks := make(chan chunk, aheadDepth)
	quit := make(chan struct{})
	go aheadReader(r, chunks, quit, in.opt.Codec == CodecNDJSON)
	defer func() {
		close(quit)
		stop()
		for c := range chunks { // wait for the reader: it may not outlive the stream
			putBatch(c.b)
		}
	}()

	sp := codec.NewSplitter(in.opt)
	for {
		var c chunk
		if in.direct != nil && len(chunks) == 0 {
			in.direct.idle() // nothing read is waiting: what was written goes out
		}
		select {
		case c = <-chunks:
		case <-in.ctx.Done(): // stop reading: what was read has gone on
			in.stopped = true
			return nil
		}
		// in.b holds no records: only the unfinished line of the last
		// read, at its front, which continues in c. from is where it
		// begins after the move.
		from := 0
		if t := len(in.b.arena); t <= aheadReserve {
			from = aheadReserve - t
			copy(c.b.arena[aheadReserve-t:], in.b.arena)
			putBatch(in.b)
			in.b = c.b
			in.base -= int64(from) // in.base is where arena[0] would be in the stream
			sp.Checked(c.lo, c.hi, c.invalid)
		} else { // a long line: gather it in the carried batch
			sp.Checked(0, 0, nil)
			data := c.b.arena[aheadReserve:]
			if free := cap(in.b.arena) - len(in.b.arena); free < len(data) {
				grown := make([]byte, len(in.b.arena), 2*cap(in.b.arena)+len(data))
				copy(grown, in.b.arena)
				in.b.arena = grown
			}
			in.b.arena = append(in.b.arena, data...)
			putBatch(c.b)
		}
		if done, err := in.frameRead(sp, from, c.err); done {
			return err
		}
	}
}
