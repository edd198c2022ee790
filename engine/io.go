package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/engine/internal/codec"
	"github.com/pipe-dev/pipe/internal/fsync"
)

// source produces input batches on out until the end of input, ctx (the
// caller's context: stop reading) is done, or the run fails.
type source interface {
	run(ctx context.Context, r *run, rs *runState, out chan<- *batch) error
	// interruptible reports whether run returns promptly once ctx is done
	// (no read that can block for ever, as on stdin).
	interruptible() bool
}

// streamSource reads a connector.StreamReader: each stream is read
// straight into batch arenas and framed there by the input's codec.
type streamSource struct {
	in   connector.StreamReader
	acks *acker   // nil: delivery is not tracked
	gate readGate // watches reads that may block for ever (readgate.go)
	// direct: the input writes its batches to the output itself (see
	// writeDirect); nil: it sends them to the first stage.
	direct *directOut
}

// Tests: noDirect turns writeDirect off, to compare the two paths;
// testHookDirect sees each batch (n < 0) or run of n counted lines (n >= 0)
// written directly.
var (
	noDirect       bool
	testHookDirect func(n int)
)

// directOut is the output of a chain without stages, written by the
// input's goroutine: W0 (lines in, lines out, nothing between) handed
// every read from the framing goroutine to the output's, a goroutine
// hand-off and a move of the read's bytes between cores per 76 KiB.
type directOut struct {
	rs  *runState // the chain's
	snk *writerSink
	c   *counters // the output's
}

// writeDirect makes the input write the batches of chain c straight to
// the output when nothing is between them and its lines can be counted
// instead of framed (countsLines): no stages, no routes, no reloads (the
// caller's), plain lines (no checks, no checkpoint), a stream output that
// writes records as they are, and an input whose reads return promptly
// once the run stops (files: no read gate). Where the input has more work
// (ndjson's check) the output's goroutine keeps the writes off it. The
// output is flushed before the input may wait (before each read, or with
// read-ahead when no read is waiting to be framed), as the output's
// goroutine would when its queue is empty. It reports whether it did; then
// c's first queue stays empty and closes when the input ends.
func writeDirect(src source, snk sink, c *chain, out *counters) bool {
	s, ok := src.(*streamSource)
	w, wok := snk.(*writerSink)
	p := c.v.p
	in := p.plan.Input
	if !ok || !wok || len(p.stages) > 0 || p.graph != nil || !s.interruptible() || s.acks != nil || noDirect ||
		in.Codec != CodecLines || in.RejectNUL || in.ValidateUTF8 {
		return false
	}
	w.use(p.plan.Output)
	if w.enc != nil || w.codec == CodecRaw || w.validate {
		return false // the output looks at each record: not a run of lines
	}
	s.direct = &directOut{rs: c.rs, snk: w, c: out}
	return true
}

// write writes b as drain would and recycles it; false: the run stopped.
func (d *directOut) write(b *batch) bool {
	select {
	case <-d.rs.ctx.Done():
		putBatch(b)
		return false
	case <-d.rs.stop(0):
		putBatch(b)
		return false
	default:
	}
	if h := testHookDirect; h != nil {
		h(-1)
	}
	if err := d.snk.write(d.rs, d.c, b, true); err != nil {
		d.rs.abort(err)
	}
	putBatch(b)
	return d.rs.ctx.Err() == nil
}

// writeLines writes p, n lines each ended by a newline, as write would
// write a batch of their records; false: the run stopped.
func (d *directOut) writeLines(p []byte, n int64) bool {
	ok, err := d.lines(p, n, false)
	if err != nil {
		d.rs.abort(err)
	}
	return ok
}

// lines is writeLines that returns the write's error instead of failing
// the run with it (ok is then false); with now, p goes straight to the
// output when nothing is buffered, however short.
func (d *directOut) lines(p []byte, n int64, now bool) (ok bool, err error) {
	select {
	case <-d.rs.ctx.Done():
		return false, nil
	case <-d.rs.stop(0):
		return false, nil
	default:
	}
	if h := testHookDirect; h != nil {
		h(int(n))
	}
	d.c.in.Add(n)
	if err := d.snk.writeRun(p, now); err != nil {
		return false, err
	}
	d.c.passed.Add(n)
	d.c.out.Add(n)
	return d.rs.ctx.Err() == nil, nil
}

// idle flushes the output before the input may wait.
func (d *directOut) idle() {
	if d.rs.ctx.Err() != nil {
		return
	}
	if err := d.snk.flush(); err != nil {
		d.rs.abort(err)
	}
}

func (s *streamSource) interruptible() bool {
	i, ok := s.in.(connector.Interruptible)
	return ok && i.Interruptible()
}

func (s *streamSource) run(ctx context.Context, r *run, rs *runState, out chan<- *batch) error {
	in := &inputRun{ctx: ctx, rs: rs, c: r.in, out: out, settings: &r.input, acks: s.acks, direct: s.direct}
	in.apply(r.input.Load())
	in.b = getBatch()
	defer func() { putBatch(in.b) }()
	for {
		// Lines counted, not framed (countsLines) take less time than the
		// read's copy: reading ahead would only add hand-offs and move
		// every read to the other core.
		ahead := readAhead(s.interruptible()) && !in.countsLines()
		// A stream read ahead gets its own context: the framer cancels it
		// to end a read that would wait (a followed file in the middle of
		// a line) when it stops early.
		sctx, cancel := ctx, context.CancelFunc(func() {})
		if ahead && in.opt.Codec != CodecRaw {
			sctx, cancel = context.WithCancel(ctx)
		}
		if in.direct != nil {
			in.direct.idle() // the next stream may wait (a followed glob)
		}
		st, err := s.in.NextStream(sctx)
		if err != nil {
			cancel()
			switch {
			case errors.Is(err, connector.ErrEndOfInput):
				in.send()
				return nil
			case ctx.Err() != nil:
				in.send()
				return nil // stop reading: what was read goes on
			}
			return &StageError{Stage: "input", Op: "read", Err: err}
		}
		in.name, in.stream, in.base = st.Name, st, st.Start
		sr := st.Reader
		if s.gate.entered != nil { // see gateOf
			sr = s.gate.wrap(sr)
		}
		switch {
		case in.opt.Codec == CodecRaw:
			err = in.readRaw(sr)
		case ahead:
			err = in.readLinesAhead(sr, cancel)
		case in.countsLines():
			if mr, ok := sr.(connector.MappableReader); ok {
				err = in.readMapped(mr) // map the file instead of reading it
			} else {
				err = in.readLines(sr)
			}
		default:
			err = in.readLines(sr)
		}
		if st.Done != nil {
			if derr := st.Done(); err == nil && derr != nil {
				err = &StageError{Stage: "input", Op: "read", Err: derr}
			}
		}
		cancel()
		in.stream = nil
		if err != nil && ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
			return nil // a read ended by the stop: what was framed went on
		}
		if err != nil || in.stopped {
			return err
		}
	}
}

// inputRun reads the input's records into batches.
type inputRun struct {
	ctx      context.Context
	rs       *runState
	c        *counters
	out      chan<- *batch
	settings *atomic.Pointer[InputPlan] // the run's: a reload may replace them
	cur      *InputPlan                 // the settings in use
	opt      codec.Options
	name     string
	num      int64       // records read so far
	b        *batch      // the batch being filled
	failErr  error       // a record error under on_error: fail
	stopped  bool        // the run stopped taking input
	dec      lineDecoder // csv, logfmt: lines become NDJSON (textcodec.go)
	ends     []int       // frameLines: where the lines of a read end
	slab     []byte      // where decoded records live

	// Delivery tracking (acks nil: none). stream is the stream being read
	// and base the stream position of the current batch's arena[0].
	acks   *acker
	stream *connector.Stream
	base   int64
	meta   map[string]string // copied to every record framed (Batch.Data)

	direct *directOut // nil: batches go to out
}

// countsLines reports whether lines go to the output as runs of bytes,
// counted but not made records (frameLines): plain lines, written as they
// are by a direct output, with no acknowledgement or metadata to attach.
func (in *inputRun) countsLines() bool {
	return in.direct != nil && in.acks == nil && in.meta == nil && in.dec == nil &&
		in.opt.Codec == codec.Lines && !in.opt.RejectNUL && !in.opt.ValidateUTF8
}

// hand hands b on: to the first stage, or written to the output (direct).
func (in *inputRun) hand(b *batch) bool {
	if in.direct != nil {
		return in.direct.write(b)
	}
	return in.rs.send(in.out, b, 0)
}

// track registers b with the acker before it is sent; end is the stream
// position after its last record. A batch sent after a record failed
// under on_error: fail is not tracked: it is never acknowledged.
func (in *inputRun) track(b *batch, end int64) {
	if in.meta != nil {
		for _, r := range b.recs {
			r.Meta = maps.Clone(in.meta)
		}
	}
	if in.acks == nil || in.failErr != nil {
		return
	}
	var fn connector.AckFunc
	if st := in.stream; st != nil && st.Ack != nil {
		ack := st.Ack
		fn = func(ctx context.Context, err error) error { return ack(ctx, end, err) }
	}
	var last int64
	if n := len(b.recs); n > 0 {
		last = b.recs[n-1].Number()
	}
	b.ack = in.acks.add(fn, int64(len(b.recs)), last)
}

// apply takes the input settings s for the records read from now on.
func (in *inputRun) apply(s *InputPlan) {
	in.cur = s
	in.opt = codec.Options{Codec: s.Codec, MaxBytes: int(s.MaxRecordBytes), ValidateUTF8: s.ValidateUTF8, RejectNUL: s.RejectNUL}
	in.dec = newLineDecoder(s)
}

// send hands the current batch on (if it has records) and starts a new one.
func (in *inputRun) send() bool {
	if len(in.b.recs) == 0 {
		return true
	}
	n := int64(len(in.b.recs))
	in.c.in.Add(n)
	in.c.passed.Add(n)
	in.c.out.Add(n)
	in.base += int64(len(in.b.arena))
	in.track(in.b, in.base)
	in.b.json = in.framedJSON()
	ok := in.hand(in.b)
	in.b = getBatch()
	if !ok {
		in.stopped = true
	}
	return ok
}

// framedJSON reports whether the records framed are known to be one JSON
// value each: under the ndjson codec the Splitter checked every one
// (codec.ValidJSON, as the ndjson output would), and a line holds no
// newline. Lines decoded by a text codec (csv, logfmt) are not vouched for.
func (in *inputRun) framedJSON() bool {
	return in.opt.Codec == codec.NDJSON && in.dec == nil
}

func (in *inputRun) bad(re *codec.RecordError) {
	if in.failErr != nil {
		return
	}
	in.num++
	in.c.in.Add(1)
	in.failErr = inputFailed(in.rs, in.cur, in.c, in.name, in.num, re)
}

// minRead is the least free space a read into a batch's arena gets.
const minRead = 16 << 10

// readLines reads the stream straight into batch arenas and frames lines
// there: records are sub-slices of what was read, never copied. Each read
// becomes a batch (at most DefaultBatchRecords records), so a slow input
// (tail -f) streams record by record; only the unfinished last line of a
// read is carried (copied) into the next batch.
func (in *inputRun) readLines(r io.Reader) error {
	sp := codec.NewSplitter(in.opt)
	for {
		b := in.b
		if cap(b.arena)-len(b.arena) < minRead { // a long line: grow
			grown := make([]byte, len(b.arena), 2*cap(b.arena)+minRead)
			copy(grown, b.arena)
			b.arena = grown
		}
		if in.direct != nil {
			in.direct.idle() // the read may wait (a followed file)
		}
		n, err := r.Read(b.arena[len(b.arena):cap(b.arena)])
		b.arena = b.arena[:len(b.arena)+n]
		if done, ferr := in.frameRead(sp, 0, err); done {
			return ferr
		}
		select {
		case <-in.ctx.Done(): // stop reading: what was read has gone on
			in.stopped = true
			return nil
		default:
		}
	}
}

// frameRead frames the records of the current batch's arena after a read
// that returned err: from arena[from:] on (from is where the unfinished
// line of the previous read begins; before it is what the batch does not
// hold), sending each batch as it fills and carrying the unfinished last
// line to the front of the next. It is the framing half of readLines and
// readLinesAhead (which differ in how they read). done says to stop
// reading the stream: at its end, on a read error (returned after the
// records before it are sent), a record failing under on_error: fail, or
// when the run stops taking input.
func (in *inputRun) frameRead(sp *codec.Splitter, from int, err error) (done bool, _ error) {
	if s := in.settings.Load(); s != in.cur {
		// A reload changed them: for what was not framed yet, so that
		// whatever was sent after the reload took effect meets them (a
		// read may have been waiting since before).
		in.apply(s)
		sp.SetOptions(in.opt)
	}
	var readErr error // after the records before it (a truncated .gz) are framed and sent
	eof := false
	switch {
	case err == io.EOF:
		eof = true
	case err != nil:
		readErr = &StageError{Stage: "input", Op: "read", Err: fmt.Errorf("%s: %w", displayName(in.name), err)}
	}
	for {
		var keep int
		var more bool
		if in.dec == nil && in.failErr == nil && sp.Plain() {
			keep, more = in.frameLines(sp, from)
		} else {
			keep, more = sp.Split(in.b.arena, from, DefaultBatchRecords-len(in.b.recs), in.frameRec, in.bad)
		}
		if in.failErr != nil {
			in.send() // the records before the failing one go on
			return true, in.failErr
		}
		in.carry(keep) // moves arena[keep:] to the front
		sp.Shift(keep)
		from = 0
		if in.stopped {
			return true, nil
		}
		if !more {
			break
		}
	}
	if readErr != nil {
		in.send()
		return true, readErr
	}
	if eof {
		sp.Finish(in.b.arena, 0, in.frameRec, in.bad)
		in.send() // its records point into the arena: the next file gets a fresh one
		if len(in.b.recs) == 0 {
			in.b.arena = in.b.arena[:0]
		}
		return true, in.failErr
	}
	return false, nil
}

// frameLines is Split for lines without checks: the Splitter lists where
// the lines end and the batch takes them in one loop (W0 spent a third of
// its framing in the calls per line); what SplitLines leaves to Split (a
// line longer than max_record_bytes) goes through Split.
func (in *inputRun) frameLines(sp *codec.Splitter, from int) (keep int, more bool) {
	if len(in.b.recs) == 0 && in.countsLines() {
		d := in.direct
		// Straight to the output, which would write these lines' records
		// as the bytes they lie in: no records (W0 made 200k for nothing).
		if n, next, ok := sp.CountLines(in.b.arena, from); ok {
			if n > 0 {
				in.num += int64(n)
				in.c.in.Add(int64(n))
				in.c.passed.Add(int64(n))
				in.c.out.Add(int64(n))
				if !d.writeLines(in.b.arena[from:next], int64(n)) {
					in.stopped = true
				}
			}
			return next, false
		}
	}
	limit := DefaultBatchRecords - len(in.b.recs)
	ends, next, more, ok := sp.SplitLines(in.b.arena, from, limit, in.ends[:0])
	in.ends = ends
	in.num = in.b.addLines(from, ends, in.num)
	if ok {
		return next, more
	}
	return sp.Split(in.b.arena, next, limit-len(ends), in.frameRec, in.bad)
}

// frameRec takes the record arena[start:end] of the current batch (a
// Splitter's rec).
func (in *inputRun) frameRec(start, end int) {
	switch {
	case in.failErr != nil:
	case in.dec != nil:
		in.decode(start, end)
	default:
		in.num++
		in.b.addRef(start, end, in.num)
	}
}

// carry sends the current batch when it has records and moves what Split
// did not consume (arena[keep:]) to the front of the batch to fill next.
func (in *inputRun) carry(keep int) {
	b := in.b
	tail := b.arena[keep:]
	in.base += int64(keep)
	if len(b.recs) == 0 {
		if keep > 0 { // keep == 0: the unfinished line is already at the front
			b.arena = b.arena[:copy(b.arena, tail)]
		}
		return
	}
	next := getBatch()
	next.arena = append(next.arena[:0], tail...) // before b is handed on
	b.arena = b.arena[:keep]
	in.c.in.Add(int64(len(b.recs)))
	in.c.passed.Add(int64(len(b.recs)))
	in.c.out.Add(int64(len(b.recs)))
	in.track(b, in.base)
	b.json = in.framedJSON()
	if !in.hand(b) {
		in.stopped = true
	}
	in.b = next
}

// readRaw reads the whole stream as one record.
func (in *inputRun) readRaw(r io.Reader) error {
	if s := in.settings.Load(); s != in.cur { // a reload changed them
		in.apply(s)
	}
	cr := codec.NewReader(r, in.opt)
	for {
		data, err := cr.Next()
		if err == io.EOF {
			return nil
		}
		var re *codec.RecordError
		switch {
		case errors.As(err, &re):
			in.bad(re)
			if in.failErr != nil {
				in.send()
				return in.failErr
			}
		case err != nil:
			return &StageError{Stage: "input", Op: "read", Err: fmt.Errorf("%s: %w", displayName(in.name), err)}
		default:
			in.num++
			if in.b.full(len(data)) && !in.send() {
				return nil
			}
			in.b.add(data, in.num)
			in.base-- // add keeps a newline after the record that the stream did not have
		}
	}
}

func displayName(n string) string {
	if n == "" {
		return "stdin"
	}
	return n
}

func inputFailed(rs *runState, s *InputPlan, c *counters, name string, num int64, re *codec.RecordError) error {
	var cause error
	switch {
	case errors.Is(re, codec.ErrTooLarge):
		cause = fmt.Errorf("%w: %d bytes (max_record_bytes is %s)", ErrRecordTooLarge, re.Size, s.MaxRecordBytes)
	default:
		cause = fmt.Errorf("%w: %v", ErrInvalidRecord, re.Err)
	}
	if name != "" {
		cause = fmt.Errorf("%s: %w", name, cause)
	}
	rec := &Record{Data: re.Data}
	rec.SetNumber(num)
	return onError(s.OnError, rs, c, "input", rec, cause, &StageError{Stage: "input", Op: "read", Record: num, Err: cause})
}

// funcSource adapts a Source; records are batched with a short linger so
// that a slow source still streams.
type funcSource struct{ next Source }

func (s *funcSource) interruptible() bool { return false }

const linger = 5 * time.Millisecond

func (s *funcSource) run(ctx context.Context, r *run, rs *runState, out chan<- *batch) error {
	c := r.in
	type item struct {
		rec *Record
		err error
	}
	ch := make(chan item, DefaultBatchRecords)
	go func() {
		defer close(ch)
		for {
			r, err := s.next(ctx)
			if err == io.EOF {
				return
			}
			select {
			case ch <- item{r, err}:
			case <-rs.ctx.Done():
				return
			case <-rs.stop(0):
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var num int64
	b := getBatch()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	send := func() bool {
		if len(b.recs) == 0 {
			return true
		}
		ok := rs.send(out, b, 0)
		b = getBatch()
		return ok
	}
	for {
		var it item
		var ok bool
		if len(b.recs) > 0 {
			timer.Reset(linger)
			select {
			case it, ok = <-ch:
			case <-timer.C:
				if !send() {
					return nil
				}
				continue
			case <-ctx.Done():
				send()
				return nil
			}
		} else {
			select {
			case it, ok = <-ch:
			case <-ctx.Done():
				return nil
			}
		}
		if !ok {
			send()
			return nil
		}
		if it.err != nil {
			send()
			return &StageError{Stage: "input", Op: "read", Err: it.err}
		}
		if it.rec == nil {
			continue
		}
		num++
		if it.rec.Number() == 0 {
			it.rec.SetNumber(num)
		}
		c.in.Add(1)
		c.passed.Add(1)
		c.out.Add(1)
		b.recs = append(b.recs, it.rec)
		if len(b.recs) >= DefaultBatchRecords && !send() {
			return nil
		}
	}
}

// sink consumes output batches in order.
type sink interface {
	write(rs *runState, c *counters, b *batch, more bool) error
	flush() error
	// sync makes what was flushed durable (connector.Env.Sync).
	sync(ctx context.Context) error
	// use sets the output settings for the batches that follow.
	use(settings OutputPlan)
}

// errOutputClosed stops a run whose reader went away (| head -1): like grep,
// pipe then exits quietly with status 0.
var errOutputClosed = errors.New("output closed")

// IsOutputClosed reports whether err means the output's reader went away
// (a broken pipe): a quiet, successful end for a command-line filter.
func IsOutputClosed(err error) bool { return errors.Is(err, errOutputClosed) }

type writerSink struct {
	w        io.Writer
	bw       *bufio.Writer
	codec    string
	validate bool
	policy   string
	compact  bytes.Buffer
	// csv, logfmt (textcodec.go)
	enc        lineEncoder
	line       []byte
	headerDone bool
	// unflushed are the acknowledgements of the batches written since the
	// last flush: settled when the buffer is flushed.
	unflushed []ackToken
	syncFn    func(context.Context) error
	// onClose: the output delivers only when it is closed; held are the
	// acknowledgements waiting for that (see settleHeld).
	onClose bool
	held    []ackToken
}

// maxUnflushed is how many tracked batches the output writes before it
// flushes, so that acknowledgements do not wait for a pause in the input.
const maxUnflushed = 32

func newWriterSink(w io.Writer, settings OutputPlan) *writerSink {
	s := &writerSink{w: w}
	s.use(settings)
	return s
}

func (s *writerSink) use(o OutputPlan) {
	s.codec, s.validate, s.policy = o.Codec, o.Validate, o.OnError
	s.enc = newLineEncoder(o)
}

func (s *writerSink) write(rs *runState, c *counters, b *batch, more bool) error {
	if b.ack.tracked() {
		if b.last {
			// What a failing stage produced before its failing record:
			// written, as jq would, but its input batch is not delivered.
			b.ack.done(errors.New("a record of the batch failed"))
		} else if s.onClose {
			s.held = append(s.held, b.ack)
		} else {
			s.unflushed = append(s.unflushed, b.ack)
			if len(s.unflushed) >= maxUnflushed {
				more = false
			}
		}
	}
	c.in.Add(int64(len(b.recs)))
	if s.enc != nil {
		s.buffer()
		return s.writeEncoded(rs, c, b, more)
	}
	// A batch known to be JSON (b.json: checked by the ndjson input or
	// vouched for by its stages, see JSONOutput) is not checked again.
	if s.codec != CodecRaw && (!s.validate || b.json) {
		n, err := s.writeRuns(b, !more)
		c.passed.Add(n)
		c.out.Add(n)
		if err != nil {
			return err
		}
		if !more {
			return s.flush()
		}
		return nil
	}
	s.buffer()
	var written int64
	for _, r := range b.recs {
		data := r.Data
		if s.validate {
			if !codec.ValidJSON(data) {
				if err := s.invalid(rs, c, r); err != nil {
					return err
				}
				continue
			}
			if bytes.IndexByte(data, '\n') >= 0 {
				s.compact.Reset()
				_ = json.Compact(&s.compact, data)
				data = s.compact.Bytes()
			}
		}
		s.bw.Write(data)
		if s.codec != CodecRaw {
			s.bw.WriteByte('\n')
		}
		written++
	}
	c.passed.Add(written)
	c.out.Add(written)
	if !more {
		return s.flush()
	}
	return nil
}

// writeRuns writes the batch's records, newline-terminated. Records that
// still lie in the batch's arena, one after the other with their newlines
// between them (nothing changed their length or replaced their bytes), are
// written as one run: W0 writes each batch with one call and no copy.
//
// flushing says the buffer is flushed after the batch: then a run is
// written straight to the output when the buffer is empty, whatever its
// size (a copy into the buffer would be written at once anyway).
func (s *writerSink) writeRuns(b *batch, flushing bool) (int64, error) {
	// Runs are looked for in the input's arena, and in the output arena
	// that stages write their records into (OutputArena).
	recs := b.recs
	for i := 0; i < len(recs); {
		buf := b.arena
		start := arenaOffset(buf, recs[i].Data)
		if start < 0 {
			buf = b.out
			start = arenaOffset(buf, recs[i].Data)
		}
		if start < 0 {
			s.buffer().Write(recs[i].Data)
			s.bw.WriteByte('\n')
			i++
			continue
		}
		end := start + len(recs[i].Data) + 1 // past the newline
		j := i + 1
		for j < len(recs) && arenaOffset(buf, recs[j].Data) == end {
			end += len(recs[j].Data) + 1
			j++
		}
		if err := s.writeRun(buf[start:end], flushing); err != nil {
			return int64(i), err
		}
		i = j
	}
	return int64(len(recs)), nil
}

// arenaOffset returns where data lies in buf, followed by a newline there,
// or -1.
func arenaOffset(buf, data []byte) int {
	if len(buf) == 0 || len(data) == 0 {
		return -1
	}
	off := int(uintptr(unsafe.Pointer(unsafe.SliceData(data))) - uintptr(unsafe.Pointer(unsafe.SliceData(buf))))
	if off < 0 || off+len(data) >= len(buf) || buf[off+len(data)] != '\n' {
		return -1
	}
	return off
}

// buffer returns the output's buffer, made on first use: W0's output,
// whose runs all go straight to the output, never needs its 256 KiB.
func (s *writerSink) buffer() *bufio.Writer {
	if s.bw == nil {
		s.bw = bufio.NewWriterSize(s.w, 256<<10)
	}
	return s.bw
}

// writeRun writes p through the buffer, or straight to the output when the
// buffer is empty and p is large or about to be flushed (no copy).
func (s *writerSink) writeRun(p []byte, flushing bool) error {
	if len(p) < 32<<10 && !flushing || s.bw != nil && s.bw.Buffered() > 0 {
		_, err := s.buffer().Write(p)
		return s.writeErr(err)
	}
	_, err := s.w.Write(p)
	return s.writeErr(err)
}

func (s *writerSink) writeErr(err error) error {
	switch {
	case err == nil:
		return nil
	case isBrokenPipe(err):
		return errOutputClosed
	}
	return &StageError{Stage: "output", Op: "write", Err: err}
}

func (s *writerSink) invalid(rs *runState, c *counters, r *Record) error {
	cause := fmt.Errorf("%w: not one JSON value (output codec is ndjson)", ErrInvalidRecord)
	return onError(s.policy, rs, c, "output", r, cause, &StageError{Stage: "output", Op: "write", Record: r.Number(), Err: cause})
}

func (s *writerSink) flush() error {
	var err error
	if s.bw != nil {
		err = s.writeErr(s.bw.Flush())
	}
	for i, t := range s.unflushed {
		t.done(err)
		s.unflushed[i] = ackToken{}
	}
	s.unflushed = s.unflushed[:0]
	return err
}

// settleHeld settles the acknowledgements held until the output closed.
func (s *writerSink) settleHeld(err error) {
	for _, t := range s.held {
		t.done(err)
	}
	s.held = nil
}

func (s *writerSink) sync(ctx context.Context) error {
	if s.syncFn == nil {
		return nil
	}
	return s.syncFn(ctx)
}

type funcSink struct{ fn Sink }

func (s *funcSink) write(rs *runState, c *counters, b *batch, more bool) error {
	c.in.Add(int64(len(b.recs)))
	for _, r := range b.recs {
		if err := s.fn(r); err != nil {
			return &StageError{Stage: "output", Op: "write", Record: r.Number(), Err: err}
		}
		c.passed.Add(1)
		c.out.Add(1)
	}
	if b.last {
		b.ack.done(errors.New("a record of the batch failed"))
	} else {
		b.ack.done(nil)
	}
	return nil
}

func (s *funcSink) flush() error { return nil }

func (s *funcSink) sync(context.Context) error { return nil }

func (s *funcSink) use(OutputPlan) {}

// deadLetter writes failed records as JSON lines.
type deadLetter struct {
	mu     sync.Mutex
	f      *os.File
	path   string
	closed bool
}

type deadLetterLine struct {
	Time         string            `json:"time"`
	Stage        string            `json:"stage"`
	RecordNumber int64             `json:"record_number,omitempty"`
	Error        string            `json:"error"`
	Record       *string           `json:"record,omitempty"`
	RecordBase64 string            `json:"record_base64,omitempty"`
	Meta         map[string]string `json:"meta,omitempty"`
}

func (d *deadLetter) write(stage string, rec *Record, cause error) error {
	if d == nil {
		return &StageError{Stage: stage, Op: "dead_letter", Err: errors.New("on_error: dead_letter needs a dead_letter: path in the pipeline")}
	}
	line := deadLetterLine{Time: time.Now().UTC().Format(time.RFC3339Nano), Stage: stage, Error: cause.Error()}
	if rec != nil {
		line.RecordNumber = rec.Number()
		line.Meta = rec.Meta
		if utf8.Valid(rec.Data) {
			s := string(rec.Data)
			line.Record = &s
		} else {
			line.RecordBase64 = base64.StdEncoding.EncodeToString(rec.Data)
		}
	}
	buf, err := json.Marshal(line)
	if err != nil {
		return err
	}
	buf = append(buf, '\n')
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.f.Write(buf); err != nil {
		return &StageError{Stage: stage, Op: "dead_letter", Err: fmt.Errorf("write %s: %w", d.path, err)}
	}
	return nil
}

// sync makes the dead-letter lines written so far durable.
func (d *deadLetter) sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil // close synced it
	}
	return fsync.File(d.f)
}

func (d *deadLetter) close() error {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	return errors.Join(fsync.File(d.f), d.f.Close())
}

// countingWriter counts the bytes written to the output (before any
// compression), for Pipeline.OutputBytes. The output writes through a
// 256 KiB buffer, so this costs one atomic add per buffer, not per record.
type countingWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countingWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}
