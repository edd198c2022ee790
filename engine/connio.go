package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/cenkalti/backoff/v5"
	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/engine/internal/codec"
)

// connEnv returns the environment a connector's constructor gets; run is
// nil when the pipeline is only being built.
func (p *Pipeline) connEnv(kind, name, codecName string, r *run, stdin io.Reader, stdout io.Writer) connector.Env {
	env := connector.Env{
		Resolve: func(path string) string { return resolvePath(p.spec.File, path) },
		Logger:  p.opts.log.With(kind, name),
		Codec:   framingCodec(codecName),
		Stdin:   stdin,
		Stdout:  stdout,
	}
	if isTextCodec(codecName) {
		env.TextCodec = codecName
	}
	if r != nil {
		env.Sync = r.syncOutput
		env.Stats = &r.connStats
	}
	return env
}

// buildConnectors checks the input and output types and their fields by
// calling their constructors (no I/O).
func (p *Pipeline) buildConnectors() error {
	spec, reg := p.spec, p.opts.reg
	var errs errList
	itName := firstNonEmpty(spec.Input.Type, "stdin")
	if it, ok := reg.InputType(itName); !ok {
		errs.add(errAtField(spec.Input.src, spec.File, "type", "unknown input type %q (want one of: %s)", itName, reg.connectorNames("input")))
	} else {
		p.inType, p.inCfg = it, connectorConfig(spec.Input.src, spec.Input.Extra, spec.Input.Path)
		in, err := it.New(p.inCfg, p.connEnv("input", it.Name, p.plan.Input.Codec, nil, nil, nil))
		switch {
		case err != nil:
			errs.add(err)
		default:
			_, br := in.(connector.BatchReader)
			_, sr := in.(connector.StreamReader)
			if !br && !sr {
				return fmt.Errorf("engine: input %s implements neither connector.BatchReader nor connector.StreamReader", it.Name)
			}
			if br && !sr {
				if err := checkRecordsCodec(spec.Input.src, spec.File, it.Name, p.plan.Input); err != nil {
					errs.add(err)
				}
			}
		}
	}
	otName := firstNonEmpty(spec.Output.Type, "stdout")
	if ot, ok := reg.OutputType(otName); !ok {
		errs.add(errAtField(spec.Output.src, spec.File, "type", "unknown output type %q (want one of: %s)", otName, reg.connectorNames("output")))
	} else {
		p.outType, p.outCfg = ot, connectorConfig(spec.Output.src, spec.Output.Extra, spec.Output.Path)
		out, err := ot.New(p.outCfg, p.connEnv("output", ot.Name, p.plan.Output.Codec, nil, nil, nil))
		switch {
		case err != nil:
			errs.add(err)
		default:
			_, bw := out.(connector.BatchWriter)
			_, sw := out.(connector.StreamWriter)
			if !bw && !sw {
				return fmt.Errorf("engine: output %s implements neither connector.BatchWriter nor connector.StreamWriter", ot.Name)
			}
			if bw && !sw {
				if err := checkMessagesCodec(spec.Output.src, spec.File, ot.Name, spec.Output.CSV); err != nil {
					errs.add(err)
				}
			}
		}
	}
	if r := spec.Output.Retry; r != nil {
		switch {
		case r.MaxAttempts < 0:
			errs.add(errAtField(r.src, spec.File, "max_attempts", "max_attempts must be at least 1"))
		case r.Initial < 0 || r.Max < 0:
			errs.add(errAtField(r.src, spec.File, "initial", "retry intervals must not be negative"))
		case r.Max != 0 && r.Initial > r.Max:
			errs.add(errAtField(r.src, spec.File, "initial", "retry initial (%s) is longer than max (%s)", r.Initial, r.Max))
		}
	}
	return errs.err()
}

// openInput makes and connects the run's input; close ends it.
func (r *run) openInput(ctx context.Context, stdin io.Reader) (source, func() error, error) {
	p := r.p
	in, err := p.inType.New(p.inCfg, p.connEnv("input", p.inType.Name, p.plan.Input.Codec, r, stdin, nil))
	if err != nil {
		return nil, nil, err
	}
	return r.connectInput(ctx, in)
}

func (r *run) connectInput(ctx context.Context, in connector.Input) (source, func() error, error) {
	closeIn := func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		return in.Close(cctx)
	}
	if err := in.Connect(ctx); err != nil {
		closeIn()
		var ce *ConfigError
		if errors.As(err, &ce) {
			return nil, nil, err
		}
		return nil, nil, &StageError{Stage: "input", Op: "connect", Err: err}
	}
	r.inputConn.Store(&connRef{c: in})
	if pr, ok := in.(connector.Progresser); ok {
		r.progress = pr
	}
	var src source
	switch in := in.(type) {
	case connector.StreamReader:
		s := &streamSource{in: in}
		if tracksDelivery(in) {
			s.acks = r.newAcker()
		}
		src = s
	case connector.BatchReader:
		src = &batchSource{in: in, acks: r.newAcker()}
	}
	return src, closeIn, nil
}

// tracksDelivery reports whether a stream input acknowledges: stdin does
// not, and then no acker runs at all.
func tracksDelivery(in connector.StreamReader) bool {
	t, ok := in.(interface{ TracksDelivery() bool })
	return !ok || t.TracksDelivery()
}

type connRef struct{ c any }

func (r *run) newAcker() *acker {
	a := newAcker(r.p.opts.log.With("input", r.p.inType.Name))
	r.acks.Store(a)
	return a
}

// keepEarlierRuns tells an output that replaces its destination at the end
// of a run (a file output without append: true) to append instead when the
// input tracks delivery: such an input resumes where delivery stopped (a
// checkpoint, a broker's acknowledgements), so replacing the destination
// would lose what earlier runs delivered. Call it before Connect.
func (r *run) keepEarlierRuns(out connector.Output) {
	if r.acks.Load() == nil {
		return
	}
	if k, ok := out.(interface{ KeepEarlierRuns() }); ok {
		k.KeepEarlierRuns()
	}
}

// openOutput makes and connects the run's output as a sink.
func (r *run) openOutput(ctx context.Context, stdout io.Writer) (sink, func() error, error) {
	p := r.p
	out, err := p.outType.New(p.outCfg, p.connEnv("output", p.outType.Name, p.plan.Output.Codec, r, nil, stdout))
	if err != nil {
		return nil, nil, err
	}
	return r.connectOutput(ctx, out)
}

func (r *run) connectOutput(ctx context.Context, out connector.Output) (sink, func() error, error) {
	p := r.p
	closeOut := func() error {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		// A run that failed before it read a record leaves the output's
		// destination as it was, when the output can.
		if a, ok := out.(connector.Aborter); ok && r.in.in.Load() == 0 && r.failedEarly.Load() {
			return a.Abort(cctx)
		}
		return out.Close(cctx)
	}
	r.keepEarlierRuns(out)
	pol := p.retryPolicy()
	connect := func(ctx context.Context) error { return out.Connect(ctx) }
	if err := r.retry(ctx, pol, "connect", connect); err != nil {
		r.failedEarly.Store(true)
		closeOut()
		var ce *ConfigError
		if errors.As(err, &ce) {
			return nil, nil, err
		}
		return nil, nil, &StageError{Stage: "output", Op: "connect", Err: err}
	}
	r.outputConn.Store(&connRef{c: out})
	switch out := out.(type) {
	case connector.StreamWriter:
		s := newWriterSink(countingWriter{out.Writer(), &r.outputWritten}, p.plan.Output)
		s.syncFn = out.Sync
		if d, ok := out.(connector.DeliversOnClose); ok && d.DeliversOnClose() {
			s.onClose = true
			if r.acks.Load() != nil {
				p.opts.log.Warn("the output is written under a temporary name and delivered when the run ends: input records are acknowledged (checkpointed) only then; set append: true on the output to deliver as records come",
					"output", p.outType.Name)
			}
		}
		r.sink.Store(&sinkRef{s})
		return s, closeOut, nil
	case connector.BatchWriter:
		s := &connSink{r: r, out: out, pol: pol, policy: firstNonEmpty(p.spec.Output.OnError, OnErrorFail), outPlan: p.plan.Output}
		if bt, ok := out.(connector.Batcher); ok {
			s.grp = newOutGroup(s, bt.BatchPolicy())
		}
		r.sink.Store(&sinkRef{s})
		return s, closeOut, nil
	}
	closeOut()
	return nil, nil, fmt.Errorf("engine: output %s implements neither connector.BatchWriter nor connector.StreamWriter", p.outType.Name)
}

type sinkRef struct{ s sink }

// syncOutput is connector.Env.Sync: it makes what the output flushed, and
// the dead-letter lines written, durable.
func (r *run) syncOutput(ctx context.Context) error {
	var errs []error
	if ref := r.sink.Load(); ref != nil {
		errs = append(errs, ref.s.sync(ctx))
	}
	if dl := r.deadLetter.Load(); dl != nil {
		errs = append(errs, dl.sync())
	}
	return errors.Join(errs...)
}

// retryPolicy is the output's retry: with its defaults.
type retryPolicy struct {
	attempts     int
	initial, max time.Duration
}

func (p *Pipeline) retryPolicy() retryPolicy { return retryPolicyOf(p.spec.Output.Retry) }

// retryPolicyOf is the retry of an output with retry: r (nil: defaults).
func retryPolicyOf(r *RetrySpec) retryPolicy {
	pol := retryPolicy{attempts: 5, initial: 100 * time.Millisecond, max: 10 * time.Second}
	if r != nil {
		if r.MaxAttempts > 0 {
			pol.attempts = r.MaxAttempts
		}
		if r.Initial > 0 {
			pol.initial = r.Initial
		}
		if r.Max > 0 {
			pol.max = r.Max
		}
	}
	return pol
}

// retry calls op until it succeeds, fails permanently, ctx is done or the
// policy's attempts are spent; between attempts it waits with exponential
// backoff and jitter (at least a RetryAfter's wait), cancellably. While it
// retries, the output counts as failing (Ready is false).
func (r *run) retry(ctx context.Context, pol retryPolicy, op string, fn func(context.Context) error) error {
	b := &backoff.ExponentialBackOff{InitialInterval: pol.initial, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: pol.max}
	b.Reset()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			if attempt > 1 {
				r.outputFailing.Store(false)
				r.p.opts.log.Info("output recovered", "op", op, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		var ce *ConfigError
		if connector.IsPermanent(err) || errors.As(err, &ce) || attempt >= pol.attempts {
			if attempt > 1 {
				err = fmt.Errorf("%w (after %d attempts)", err, attempt)
			}
			return err
		}
		r.outputFailing.Store(true)
		r.retries.Add(1)
		wait := b.NextBackOff()
		var ra *connector.RetryAfterError
		if errors.As(err, &ra) && ra.After > wait {
			wait = min(ra.After, max(pol.max, wait))
		}
		if attempt == 1 {
			r.p.opts.log.Warn("output failed; retrying", "op", op, "err", err, "wait", wait, "max_attempts", pol.attempts)
		} else {
			r.p.opts.log.Debug("output failed again; retrying", "op", op, "attempt", attempt, "err", err, "wait", wait)
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		var stop <-chan struct{}
		if r.stopCtx != nil {
			stop = r.stopCtx.Done()
		}
		select {
		case <-timer.C:
		case <-ctx.Done():
			return fmt.Errorf("%w (retry cancelled: %w)", err, context.Cause(ctx))
		case <-stop: // the run is stopping: the batch is not delivered
			return &retryStopped{err}
		}
	}
}

// retryStopped is a retry given up because the run is stopping (SIGTERM):
// the batch is not delivered, and the output's on_error does not apply.
type retryStopped struct{ err error }

func (e *retryStopped) Error() string {
	return fmt.Sprintf("%v (not retried further: the run is stopping)", e.err)
}
func (e *retryStopped) Unwrap() error { return e.err }

// connSink writes batches to a connector.BatchWriter, with retries and
// the output's on_error after the last attempt.
type connSink struct {
	r       *run
	out     connector.BatchWriter
	pol     retryPolicy
	policy  string // fail, drop or dead_letter
	outPlan OutputPlan
	recs    []*Record
	enc     lineEncoder // under a text codec (csv, logfmt)
	grp     *outGroup   // the output groups records (connector.Batcher); nil: each batch is written as it comes
}

func (s *connSink) use(o OutputPlan) {
	if o.Codec != s.outPlan.Codec || o.CSV != s.outPlan.CSV {
		s.enc = nil
	}
	s.outPlan = o
}

// encodeOrFail is encode with the output's on_error for a record that
// cannot be encoded: it returns nil (and the policy's error, if it stops
// the run) when r is not to be written.
func (s *connSink) encodeOrFail(rs *runState, c *counters, r *Record) (*Record, error) {
	if s.enc == nil && isTextCodec(s.outPlan.Codec) {
		s.enc = newLineEncoder(s.outPlan)
	}
	e, err := s.encode(r)
	if err == nil {
		return e, nil
	}
	cause := fmt.Errorf("%w: %v", ErrInvalidRecord, err)
	return nil, onError(s.outPlan.OnError, rs, c, "output", r, cause, &StageError{Stage: "output", Op: "write", Record: r.Number(), Err: cause})
}

// encode returns a copy of r whose data is its line under the output's
// text codec (without a newline: each record is a message of its own, and
// a header row is never written). r itself is left alone (a fanout may
// hand it to other outputs too).
func (s *connSink) encode(r *Record) (*Record, error) {
	line, err := s.enc.encode(nil, r.Data)
	if err != nil {
		return nil, err
	}
	e := &Record{Data: line, Meta: r.Meta}
	e.SetNumber(r.Number())
	return e, nil
}

func (s *connSink) write(rs *runState, c *counters, b *batch, more bool) error {
	if s.grp != nil {
		return s.grp.add(rs, c, b)
	}
	c.in.Add(int64(len(b.recs)))
	recs := s.recs[:0]
	if s.enc == nil && isTextCodec(s.outPlan.Codec) {
		s.enc = newLineEncoder(s.outPlan)
	}
	for _, r := range b.recs {
		if s.outPlan.Validate && !b.json && !codec.ValidJSON(r.Data) {
			cause := fmt.Errorf("%w: not one JSON value (output codec is ndjson)", ErrInvalidRecord)
			if err := onError(s.outPlan.OnError, rs, c, "output", r, cause, &StageError{Stage: "output", Op: "write", Record: r.Number(), Err: cause}); err != nil {
				return err
			}
			continue
		}
		if s.enc != nil {
			e, err := s.encodeOrFail(rs, c, r)
			if e == nil {
				if err != nil {
					return err
				}
				continue
			}
			r = e
		}
		recs = append(recs, r)
	}
	s.recs = recs
	defer clear(s.recs)
	settled, err := s.writeRecs(rs, c, recs)
	if err != nil {
		b.ack.done(err)
		return err
	}
	if !settled {
		return nil // the run aborted: the batch is not acknowledged
	}
	if b.last {
		b.ack.done(errors.New("a record of the batch failed"))
	} else {
		b.ack.done(nil)
	}
	return nil
}

func firstNum(recs []*Record) int64 {
	if len(recs) == 0 {
		return 0
	}
	return recs[0].Number()
}

func (s *connSink) flush() error {
	if s.grp != nil {
		return s.grp.flush()
	}
	return nil
}

func (s *connSink) sync(context.Context) error { return nil }

// batchSource reads a connector.BatchReader.
type batchSource struct {
	in   connector.BatchReader
	acks *acker
}

// interruptible: ReadBatch honours ctx.
func (s *batchSource) interruptible() bool { return true }

func (s *batchSource) run(ctx context.Context, r *run, rs *runState, out chan<- *batch) error {
	// A read blocks until the source has something (a broker with no
	// messages): end it also when the run fails, not only when the caller
	// stops reading.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(rs.ctx, cancel)()
	in := &inputRun{ctx: ctx, rs: rs, c: r.in, out: out, settings: &r.input, acks: s.acks}
	in.apply(r.input.Load())
	in.b = getBatch()
	defer func() { putBatch(in.b) }()
	for {
		cb, ack, err := s.in.ReadBatch(ctx)
		switch {
		case errors.Is(err, connector.ErrEndOfInput):
			return nil
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			return &StageError{Stage: "input", Op: "read", Err: err}
		case ack == nil:
			return fmt.Errorf("engine: input %s returned a batch without an AckFunc", r.p.inType.Name)
		}
		if s := r.input.Load(); s != in.cur {
			in.apply(s)
		}
		if cb.Records == nil {
			in.meta = cb.Meta
			if in.opt.Codec == CodecRaw {
				err = in.readRaw(bytes.NewReader(cb.Data))
			} else {
				err = in.readLines(bytes.NewReader(cb.Data))
			}
			in.meta = nil
		} else {
			err = in.addRecords(cb.Records)
		}
		if err == nil && !in.stopped {
			in.send()
		}
		if err != nil || in.stopped || in.failErr != nil {
			// The batch's records were not all taken: not delivered. The
			// acker calls it, after the batches read before it and never
			// concurrently with their acknowledgements.
			s.acks.add(ack, 0, 0).done(fmt.Errorf("%w: the run stopped", connector.ErrNotDelivered))
			return err
		}
		s.acks.marker(ack)
	}
}

// addRecords takes records an input made, checked like framed ones; under
// a text codec (csv, logfmt) each record's data is one line of it, turned
// into its NDJSON record.
func (in *inputRun) addRecords(recs []*Record) error {
	for _, rec := range recs {
		in.num++
		re := in.check(rec.Data)
		if re == nil && in.dec != nil {
			var keep bool
			if re, keep = in.decodeRecord(rec); !keep {
				in.num--
				continue
			}
		}
		if re != nil {
			in.num--
			in.bad(re)
			if in.failErr != nil {
				in.send()
				return in.failErr
			}
			continue
		}
		rec.SetNumber(in.num)
		if len(in.b.recs) >= DefaultBatchRecords && !in.send() {
			return nil
		}
		in.b.recs = append(in.b.recs, rec)
	}
	return nil
}

// decodeRecord replaces rec's data by its NDJSON record under the input's
// text codec; keep is false for a record that is none (a blank line, a
// CSV header row), which is skipped.
func (in *inputRun) decodeRecord(rec *Record) (re *codec.RecordError, keep bool) {
	if len(in.slab) > 48<<10 {
		in.slab = nil // records keep the old slab alive while they need it
	}
	s0 := len(in.slab)
	line := bytes.TrimSuffix(rec.Data, []byte{'\n'})
	out, keep, err := in.dec.decode(in.slab, line)
	if !keep {
		return nil, false
	}
	if err != nil {
		return &codec.RecordError{Err: err, Data: rec.Data, Size: int64(len(rec.Data))}, true
	}
	in.slab = out
	rec.Data = out[s0:len(out):len(out)]
	return nil, true
}

// framingCodec is the codec a connector frames records by: the text
// codecs (csv, logfmt) are lines to it, the engine turns each line into
// its record.
func framingCodec(c string) string {
	if isTextCodec(c) {
		return CodecLines
	}
	return c
}

// checkRecordsCodec checks the codec of an input that delivers records
// (connector.BatchReader: brokers, http_server) rather than a stream: each
// record is decoded on its own, so under csv no header row comes first to
// name the columns.
func checkRecordsCodec(src Config, file, typ string, in InputPlan) error {
	if in.Codec == CodecCSV && len(csvSettings(in.CSV).Columns) == 0 {
		return errAtField(src, file, "codec", "the %s input delivers records one by one, each decoded on its own: codec: csv needs csv: {columns: [...]} to name the fields (no header row comes first; add header: true to skip records equal to the header row)", typ)
	}
	return nil
}

// checkMessagesCodec checks the csv: settings of an output that writes
// records one by one (connector.BatchWriter): there is no stream for a
// header row to head.
func checkMessagesCodec(src Config, file, typ string, o *CSVOptions) error {
	if o != nil && o.Header != nil && *o.Header {
		return errAtField(src, file, "csv", "the %s output writes each record on its own: csv: header: true has nowhere to go (a row of column names would be a record of its own); leave header: out", typ)
	}
	return nil
}

// check applies the input codec's checks to a record an input made.
func (in *inputRun) check(data []byte) *codec.RecordError {
	switch {
	case in.opt.MaxBytes > 0 && len(data) > in.opt.MaxBytes:
		return &codec.RecordError{Err: codec.ErrTooLarge, Data: data[:min(len(data), codec.KeepPrefix)], Size: int64(len(data))}
	case in.opt.Codec == CodecNDJSON && !codec.ValidJSON(data):
		return &codec.RecordError{Err: codec.ErrInvalidJSON, Data: data, Size: int64(len(data))}
	case in.opt.RejectNUL && bytes.IndexByte(data, 0) >= 0:
		return &codec.RecordError{Err: codec.ErrNUL, Data: data, Size: int64(len(data))}
	case in.opt.ValidateUTF8 && !utf8.Valid(data):
		return &codec.RecordError{Err: codec.ErrInvalidUTF8, Data: data, Size: int64(len(data))}
	}
	return nil
}

// connStats collects what connectors report (connector.Stats).
type connStats struct {
	mu     sync.Mutex
	events map[string]*atomic.Int64
	gauges map[string]float64
}

func (s *connStats) Event(name string) {
	s.mu.Lock()
	if s.events == nil {
		s.events = map[string]*atomic.Int64{}
	}
	c := s.events[name]
	if c == nil {
		c = new(atomic.Int64)
		s.events[name] = c
	}
	s.mu.Unlock()
	c.Add(1)
}

func (s *connStats) Gauge(name string, v float64) {
	s.mu.Lock()
	if s.gauges == nil {
		s.gauges = map[string]float64{}
	}
	s.gauges[name] = v
	s.mu.Unlock()
}

// DeliveryStats are a run's delivery counts, for --stats and the metrics.
type DeliveryStats struct {
	// Acked and Nacked count the input records acknowledged as delivered
	// and as not delivered; AckErrors the acknowledgements that failed.
	Acked, Nacked, AckErrors int64
	// Watermark is the number of the last input record acknowledged.
	Watermark int64
	// PendingAcks is how many input batches wait for their
	// acknowledgement.
	PendingAcks int64
	// Retries counts the output's retried attempts; OutputFailing is true
	// while the output retries a failed write.
	Retries       int64
	OutputFailing bool
	// Events and Gauges are what the input and output reported
	// (connector.Stats).
	Events map[string]int64
	Gauges map[string]float64
}

// Delivery returns the delivery counts of the current or last run.
func (p *Pipeline) Delivery() DeliveryStats {
	r := p.last.Load()
	if r == nil {
		return DeliveryStats{}
	}
	d := DeliveryStats{Retries: r.retries.Load(), OutputFailing: r.outputFailing.Load()}
	if a := r.acks.Load(); a != nil {
		d.Acked, d.Nacked, d.AckErrors = a.acked.Load(), a.nacked.Load(), a.ackErrors.Load()
		d.Watermark, d.PendingAcks = a.watermark.Load(), a.outstanding.Load()
	}
	r.connStats.mu.Lock()
	defer r.connStats.mu.Unlock()
	if len(r.connStats.events) > 0 {
		d.Events = map[string]int64{}
		for k, v := range r.connStats.events {
			d.Events[k] = v.Load()
		}
	}
	if len(r.connStats.gauges) > 0 {
		d.Gauges = map[string]float64{}
		for k, v := range r.connStats.gauges {
			d.Gauges[k] = v
		}
	}
	return d
}

// executeIO runs execute between a connected input and output: the output
// is closed (flushed, fsynced) before the last acknowledgements are
// settled, and the input is closed after them.
func (r *run) executeIO(ctx context.Context, src source, snk sink, closeIn, closeOut func() error, reloads <-chan Reload) (err error) {
	r.stopCtx = ctx
	err = r.execute(ctx, src, snk, reloads)
	r.failedEarly.Store(err != nil)
	cerr := closeOut()
	if ws, ok := snk.(*writerSink); ok {
		ws.settleHeld(cerr)
	}
	if cerr != nil && err == nil {
		err = &StageError{Stage: "output", Op: "close", Err: cerr}
	}
	if a := r.acks.Load(); a != nil {
		a.close(err)
	}
	if cerr := closeIn(); cerr != nil && err == nil {
		err = &StageError{Stage: "input", Op: "close", Err: cerr}
	}
	return err
}
