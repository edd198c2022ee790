package wasm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/pipe-dev/pipe/engine"
	pipestage "github.com/pipe-dev/pipe/stage"
	"github.com/pipe-dev/pipe/stages/wasm/internal/interrupt"
)

// module is one instance of the compiled module with its ABI functions.
type module struct {
	mod                           api.Module
	mem                           api.Memory
	alloc, transform, init, flush api.Function
	stdout, stderr                *lineWriter
	args                          [2]uint64
	intr                          *interrupt.Flag // of a rewritten module
	lm                            *linearMemory   // nil: wazero's own memory
	stack                         api.Global      // the stack bound's sum (nil: not bounded)
	stackLimit                    uint32
}

// hold keeps the instance's memory mapped until release is called: around
// every call and every host access to the memory (see linearMemory). It
// fails when the module was closed (its runtime closed under it).
func (m *module) hold() (release func(), err error) {
	if m.lm == nil {
		return func() {}, nil
	}
	if !m.lm.enter() {
		return nil, errModuleClosed
	}
	return m.lm.leave, nil
}

var errModuleClosed = errors.New("the module instance was closed")

// start arms the interrupt flag of a rewritten module's instance and runs
// its start functions: the wasm start function (which the rewrite turned
// into an export) and _initialize.
func (m *module) start(ctx context.Context) error {
	var err error
	if m.intr, err = interrupt.New(m.mod); err != nil {
		return err
	}
	for _, name := range []string{interrupt.StartExport, "_initialize"} {
		if fn := m.mod.ExportedFunction(name); fn != nil {
			if _, err := m.call(ctx, fn); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return nil
}

// call calls fn with args and returns its one result (0 if none). Any error
// leaves the instance unusable: the caller discards it.
func (m *module) call(ctx context.Context, fn api.Function, args ...uint64) (uint64, error) {
	release, err := m.hold()
	if err != nil {
		return 0, err
	}
	defer release()
	copy(m.args[:], args)
	m.stderr.mark()
	var disarm func() bool
	if m.intr != nil {
		disarm = m.intr.Arm(ctx)
	}
	err = fn.CallWithStack(ctx, m.args[:])
	if disarm != nil {
		disarm()
	}
	if err != nil {
		return 0, m.explain(ctx, err)
	}
	return m.args[0], nil
}

// explain turns a failed call into an error that says what happened: a
// timeout (wrapping the context's cause), an exit, or a trap, with what the
// guest wrote on stderr during the call.
func (m *module) explain(ctx context.Context, err error) error {
	var ee *sys.ExitError
	if errors.As(err, &ee) {
		switch ee.ExitCode() {
		case sys.ExitCodeDeadlineExceeded, sys.ExitCodeContextCanceled:
			if cause := context.Cause(ctx); cause != nil {
				return fmt.Errorf("guest interrupted: %w", cause)
			}
		}
		return fmt.Errorf("guest exited with code %d%s", ee.ExitCode(), m.stderr.sinceMark())
	}
	if ctx.Err() != nil {
		return fmt.Errorf("guest interrupted: %w", context.Cause(ctx))
	}
	te := &trapError{err: err, stderr: m.stderr.sinceMark()}
	if m.stack != nil && m.stack.Get() > uint64(m.stackLimit) {
		// The stack bound's trap (an unreachable the rewrite added).
		te.msg = fmt.Sprintf("call stack over stack_limit (%s): recursion too deep or without end", engine.ByteSize(m.stackLimit))
		te.err = fmt.Errorf("%w: %w", ErrStackLimit, err)
	}
	return te
}

// ErrStackLimit is wrapped by the error of a call that went past the
// stage's stack_limit.
var ErrStackLimit = errors.New("wasm call stack limit exceeded")

// trapError is a trap, with the guest's stderr of the call. Its message is
// one line: wazero's wasm stack trace is left out (the debug log of the
// discarded instance has it).
type trapError struct {
	err    error
	stderr string
	msg    string // what the trap means, if the host knows; else the first line of err
}

func (e *trapError) Error() string {
	msg := e.msg
	if msg == "" {
		msg, _, _ = strings.Cut(e.err.Error(), "\n")
	}
	return "guest trapped: " + msg + e.stderr
}

func (e *trapError) Unwrap() error { return e.err }

// buffer calls pipe_alloc for n bytes and returns a view of them.
func (m *module) buffer(ctx context.Context, n uint64) (uint32, []byte, error) {
	if n >= 1<<32 {
		return 0, nil, fmt.Errorf("input of %d bytes does not fit in guest memory", n)
	}
	p, err := m.call(ctx, m.alloc, n)
	if err != nil {
		return 0, nil, fmt.Errorf("%s: %w", exportAlloc, err)
	}
	ptr := uint32(p)
	if ptr == 0 && n > 0 {
		return 0, nil, fmt.Errorf("%s(%d) returned 0: the guest could not allocate the input buffer", exportAlloc, n)
	}
	b, ok := m.mem.Read(ptr, uint32(n))
	if !ok {
		return 0, nil, fmt.Errorf("%s(%d) returned %#x, out of bounds of the guest's %d-byte memory", exportAlloc, n, ptr, m.mem.Size())
	}
	return ptr, b, nil
}

// result reads the packed (address << 32 | length) result r of export
// name, copied out of guest memory.
func (m *module) result(name string, r uint64) ([]byte, error) {
	ptr, n := uint32(r>>32), uint32(r)
	if n == 0 {
		return nil, nil
	}
	b, ok := m.mem.Read(ptr, n)
	if !ok {
		return nil, fmt.Errorf("%s returned a result of %d bytes at %#x, out of bounds of the guest's %d-byte memory", name, n, ptr, m.mem.Size())
	}
	return append([]byte(nil), b...), nil
}

// initWith runs pipe_init with config; it returns the guest's rejection
// message, if any.
func (m *module) initWith(ctx context.Context, config []byte) (string, error) {
	release, err := m.hold()
	if err != nil {
		return "", err
	}
	defer release()
	ptr, b, err := m.buffer(ctx, uint64(len(config)))
	if err != nil {
		return "", err
	}
	copy(b, config)
	r, err := m.call(ctx, m.init, uint64(ptr), uint64(len(config)))
	if err != nil {
		return "", err
	}
	msg, err := m.result(exportInit, r)
	return string(msg), err
}

func (m *module) close() {
	m.mod.Close(context.Background())
	m.stdout.flush()
	m.stderr.flush()
}

// instance is one worker's module instance, batch-only (see
// engine.BatchOnly). A call that fails as a whole
// (trap, exit, timeout, malformed result) discards the instance; the next
// call makes a fresh one.
type instance struct {
	st    *stage
	m     *module
	all   []output // outputs of the latest call, reused
	fates []fate
}

// Open makes the instance's module unless it took the one Load made.
func (in *instance) Open(ctx context.Context) error {
	if in.m != nil {
		return nil
	}
	m, err := in.st.instantiate(ctx)
	if err != nil {
		return err
	}
	in.m = m
	return nil
}

// live returns the instance's module, replacing a discarded one.
func (in *instance) live(ctx context.Context) (*module, error) {
	if in.m != nil {
		return in.m, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	start := time.Now()
	m, err := in.st.instantiate(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("replacing the module instance: %w", context.Cause(ctx))
		}
		return nil, engine.Fatal(fmt.Errorf("module %s: the instance was discarded and a new one cannot be made: %w", in.st.path, err))
	}
	in.st.log.Debug("replaced the module instance", "took", time.Since(start))
	in.st.events.Restarted("path", in.st.path, "took_ms", time.Since(start).Milliseconds())
	in.m = m
	return m, nil
}

// Reset implements stage.Resetter: after a call its timeout interrupted
// (the module instance was closed by its context and discarded), the
// replacement is made now, so that the next record's timeout does not pay
// for instantiation and pipe_init. The guest's state is lost, as with any
// replaced instance.
func (in *instance) Reset(ctx context.Context) error {
	_, err := in.live(ctx)
	return err
}

// discard drops the instance after a failed call.
func (in *instance) discard(why error) {
	if in.m == nil {
		return
	}
	var te *trapError
	if errors.As(why, &te) {
		why = fmt.Errorf("%w%s", te.err, te.stderr) // with the wasm stack trace
	}
	in.st.log.Debug("discarding the module instance", "reason", why)
	in.m.close()
	in.m = nil
}

// exchange runs recs through pipe_transform and returns the result buffer.
func (in *instance) exchange(ctx context.Context, recs []*engine.Record) ([]byte, error) {
	m, err := in.live(ctx)
	if err != nil {
		return nil, err
	}
	res, err := func() ([]byte, error) {
		release, err := m.hold()
		if err != nil {
			return nil, err
		}
		defer release()
		ptr, b, err := m.buffer(ctx, batchSize(recs))
		if err != nil {
			return nil, err
		}
		encodeBatch(b, recs)
		r, err := m.call(ctx, m.transform, uint64(ptr), uint64(len(b)))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", exportTransform, err)
		}
		return m.result(exportTransform, r)
	}()
	if err != nil {
		in.discard(err)
		return nil, err
	}
	return res, nil
}

// fate is what became of one record: outputs all[lo:hi] or a failure.
type fate struct {
	lo, hi int
	msg    string
	failed bool
}

// decode reads a result for n records into in.all and in.fates. A result
// that does not follow the ABI fails the whole call and discards the
// instance.
func (in *instance) decode(res []byte, n int) error {
	r := &reader{b: res}
	if got := r.u32("record count"); r.err == nil && int(got) != n {
		in.discard(errMalformed)
		return fmt.Errorf("%s: %w: %d results for a batch of %d (want one per record)", exportTransform, errMalformed, got, n)
	}
	in.all, in.fates = in.all[:0], in.fates[:0]
	for range n {
		lo := len(in.all)
		var msg string
		var failed bool
		in.all, msg, failed = r.recordResult(in.all)
		in.fates = append(in.fates, fate{lo, len(in.all), msg, failed})
	}
	if err := r.done(); err != nil {
		in.discard(err)
		return fmt.Errorf("%s: %w", exportTransform, err)
	}
	return nil
}

// TransformBatch hands the whole batch to the guest in one call.
func (in *instance) TransformBatch(ctx context.Context, recs []*engine.Record, out *engine.BatchResult) error {
	res, err := in.exchange(ctx, recs)
	if err != nil {
		return err
	}
	if err := in.decode(res, len(recs)); err != nil {
		return err
	}
	for i, rec := range recs {
		f := in.fates[i]
		in.apply(rec, in.all[f.lo:f.hi], f.msg, f.failed, func(o *engine.Record) { out.Emit(i, o) }, func(err error) { out.Fail(i, err) })
	}
	clear(in.all) // do not keep the result buffer alive
	return nil
}

// apply turns one record's result into emits or a failure.
func (in *instance) apply(rec *engine.Record, outs []output, msg string, failed bool, emit func(*engine.Record), fail func(error)) {
	if failed {
		if msg == "" {
			msg = "the guest failed the record with no message"
		}
		fail(errors.New(msg))
		return
	}
	switch len(outs) {
	case 0:
	case 1:
		// The common case: reuse the input record.
		rec.Data = outs[0].data
		if !outs[0].inherit {
			rec.Meta = outs[0].meta
		}
		emit(rec)
	default:
		for _, o := range outs {
			r := rec.Derive(o.data)
			if !o.inherit {
				r.Meta = o.meta
			}
			emit(r)
		}
	}
}

// Flush calls the guest's pipe_flush, if it exports one. A guest whose
// instance was replaced during the run flushes the state of its latest
// instance only.
func (in *instance) Flush(ctx context.Context, emit func(*engine.Record)) error {
	if !in.st.hasFlush {
		return nil
	}
	m, err := in.live(ctx)
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	res, err := func() ([]byte, error) {
		release, err := m.hold()
		if err != nil {
			return nil, err
		}
		defer release()
		rv, err := m.call(ctx, m.flush)
		if err != nil {
			return nil, err
		}
		return m.result(exportFlush, rv)
	}()
	if err != nil {
		in.discard(err)
		return fmt.Errorf("%s: %w", exportFlush, err)
	}
	r := &reader{b: res}
	outs, msg, failed := r.recordResult(nil)
	if err := r.done(); err != nil {
		in.discard(err)
		return fmt.Errorf("%s: %w", exportFlush, err)
	}
	if failed {
		return fmt.Errorf("%s: %s", exportFlush, msg)
	}
	for _, o := range outs {
		rec := engine.NewRecord(o.data)
		if !o.inherit {
			rec.Meta = o.meta
		}
		emit(rec)
	}
	return nil
}

// Close closes the instance's module.
func (in *instance) Close() error {
	if in.m != nil {
		in.m.close()
		in.m = nil
	}
	return nil
}

var (
	_ engine.BatchTransformer = (*instance)(nil)
	_ engine.Opener           = (*instance)(nil)
	_ engine.Flusher          = (*instance)(nil)
	_ engine.Closer           = (*instance)(nil)
	_ pipestage.Resetter      = (*instance)(nil)
)
