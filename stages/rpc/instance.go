package rpc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cenkalti/backoff/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pipe-dev/pipe/engine"
	rpcpb "github.com/pipe-dev/pipe/stages/rpc/proto"
)

// instance is one worker's plugin process, supervised: it is started on
// Open, restarted when it dies or is killed for not answering within the
// call's deadline (at most max_restarts times within restart_window, with
// backoff), and killed when it does not answer.
type instance struct {
	st   *stage
	p    *proc
	tail *tail

	pbRecs []*rpcpb.Record // reused request records
	calls  int             // TransformBatch calls made (for tests)

	restarts []time.Time                 // start attempts of restarts within the window
	backoff  *backoff.ExponentialBackOff // delay before a restart that is not the first in the window
}

// errUnresponsive cancels a call whose plugin failed a health check.
var errUnresponsive = errors.New("plugin does not answer its health checks")

// Backoff before a restart: none for the first within restart_window (a
// one-off crash costs nothing), then 50ms, doubling up to 2s, each ±50%
// at random so that the workers of a stage do not restart in lockstep.
const (
	backoffInitial = 50 * time.Millisecond
	backoffMax     = 2 * time.Second
)

func newBackoff() *backoff.ExponentialBackOff {
	return &backoff.ExponentialBackOff{InitialInterval: backoffInitial, RandomizationFactor: 0.5, Multiplier: 2, MaxInterval: backoffMax}
}

// sleep waits d or until ctx is done (then it returns ctx's error).
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (in *instance) Open(ctx context.Context) error {
	if in.p != nil {
		return nil
	}
	p, err := in.st.start(ctx, in.tail)
	if err != nil {
		return in.st.startErr(err)
	}
	in.p = p
	return nil
}

// restart starts a new process after the old one died (why). One rule
// bounds restarts: a worker restarts its plugin at most max_restarts times
// within restart_window, counting every start attempt (one that fails
// too); when the next restart would exceed that, the error is fatal for
// the pipeline (exit 1). The first restart in the window is immediate,
// later ones wait an exponential backoff with jitter, abandoned when ctx
// is done (ctx's error is returned then, and the next call restarts). A
// binary whose sha256 no longer matches its pin is refused at once
// (fatal), without retries.
func (in *instance) restart(ctx context.Context, why error) error {
	if in.p != nil {
		in.p.kill()
		in.st.events.Emit("plugin_crashed", "path", in.st.path, "pid", in.p.pid, "sha256", in.p.sum, "reason", why.Error(), "stderr", in.tail.last())
		in.p = nil
	}
	if in.backoff == nil {
		in.backoff = newBackoff()
	}
	var lastErr error
	for {
		now := time.Now()
		in.restarts = slices.DeleteFunc(in.restarts, func(t time.Time) bool { return now.Sub(t) >= in.st.window })
		if len(in.restarts) >= in.st.retries {
			msg := fmt.Sprintf("%s died (%v) and was not restarted again: %d restarts within %s (max_restarts: %d, restart_window: %s)",
				in.st.label, why, len(in.restarts), in.st.window, in.st.retries, in.st.window)
			if lastErr != nil {
				return engine.Fatal(fmt.Errorf("%s; it could not be restarted: %w", msg, lastErr))
			}
			return engine.Fatal(errors.New(msg))
		}
		if len(in.restarts) == 0 {
			in.backoff.Reset()
		} else if err := sleep(ctx, in.backoff.NextBackOff()); err != nil {
			return err
		}
		in.restarts = append(in.restarts, time.Now())
		attempt := len(in.restarts)
		start := time.Now()
		p, err := in.st.start(ctx, in.tail)
		if err == nil {
			in.st.log.Warn("plugin restarted", "path", in.st.path, "reason", why, "restart", attempt, "max_restarts", in.st.retries, "took", time.Since(start))
			in.p = p
			in.st.events.Restarted("path", in.st.path, "pid", p.pid, "sha256", p.sum, "attempt", attempt, "took_ms", time.Since(start).Milliseconds())
			return nil
		}
		in.st.log.Warn("plugin restart failed", "path", in.st.path, "restart", attempt, "max_restarts", in.st.retries, "err", err)
		in.st.events.Emit("plugin_restart_failed", "path", in.st.path, "attempt", attempt, "reason", err.Error())
		var pe *PinError
		if errors.As(err, &pe) {
			return engine.Fatal(fmt.Errorf("%s died (%v) and was not restarted: %w", in.st.label, why, err))
		}
		lastErr = err
	}
}

// restartFree starts a new process after one died of its record
// (Child.Fault): the restart is not counted against max_restarts and waits
// no backoff, since the record, not the process, was at fault and takes
// on_error. A start that fails goes on as restart, counted.
func (in *instance) restartFree(ctx context.Context, why error) error {
	if in.p != nil {
		in.st.events.Emit("plugin_crashed", "path", in.st.path, "pid", in.p.pid, "reason", why.Error())
		in.p = nil
	}
	start := time.Now()
	p, err := in.st.start(ctx, in.tail)
	if err != nil {
		in.st.log.Warn("restart failed", "label", in.st.label, "err", err)
		return in.restart(ctx, why)
	}
	in.p = p
	in.st.events.Restarted("path", in.st.path, "pid", p.pid, "reason", why.Error(), "took_ms", time.Since(start).Milliseconds())
	return nil
}

// call runs one request against the plugin, restarting it and re-sending
// the request if the process dies. It returns a plain error (the engine
// then isolates the culprit record) when the same request crashed the
// plugin twice, ctx's error when the plugin did not answer in time (it is
// then killed; the next call restarts it), and a Fatal error when the
// plugin cannot be restarted.
func (in *instance) call(ctx context.Context, do func(ctx context.Context, p *proc) error) error {
	crashes := 0
	for {
		if ctx.Err() != nil {
			return ctx.Err() // no restart for a call that cannot be made
		}
		if in.p == nil {
			if err := in.restart(ctx, errors.New("previous process gone")); err != nil {
				return err
			}
		}
		p := in.p
		err := in.watched(ctx, p, do)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || status.Code(err) == codes.DeadlineExceeded {
			// The plugin did not answer within the deadline (the call's
			// context is done, or gRPC ended the call at the deadline it
			// sent): it may be stuck in a loop; kill it so it cannot keep
			// working on a record the engine gave up on.
			cause := context.Cause(ctx)
			if cause == nil {
				cause = fmt.Errorf("%w (gRPC deadline)", context.DeadlineExceeded)
			}
			timedOut := errors.Is(cause, engine.ErrStageTimeout) || errors.Is(cause, context.DeadlineExceeded)
			if timedOut {
				in.st.log.Warn("plugin did not answer in time; killing it", "path", in.st.path, "err", cause)
			} else {
				in.st.log.Debug("call cancelled; stopping the plugin", "path", in.st.path, "err", cause)
			}
			p.kill()
			in.p = nil
			if timedOut {
				// Start the replacement now, in the call that timed out:
				// started by the next call, the restart would count
				// against the next record's timeout and fail it.
				if err := in.restart(context.WithoutCancel(ctx), errors.New("it did not answer in time")); err != nil {
					return err
				}
			}
			if ctx.Err() == nil {
				return cause // the engine counts a failure past the deadline as a timeout
			}
			return ctx.Err()
		}
		if !in.died(p, err) {
			// The plugin answered with an error status.
			return fmt.Errorf("%s: %s", in.st.label, status.Convert(err).Message())
		}
		crashes++
		in.st.log.Warn("plugin died during a call; restarting it", "path", in.st.path, "err", err, "crashes", crashes)
		cause := status.Convert(err).Message()
		if p.exited() {
			cause = "the process exited"
		}
		// Kill first: it waits until the plugin's stderr is copied, so
		// the error carries its last lines.
		p.kill()
		if ferr := in.tail.takeFault(); ferr != nil {
			// A child that died of what it was given (out of its memory
			// limit): the request is not re-sent; a batch is re-run
			// record by record by the engine, and the record at fault
			// fails with ferr.
			in.st.log.Warn("isolated process died of its record; restarting it", "err", ferr)
			if err := in.restartFree(context.WithoutCancel(ctx), ferr); err != nil {
				return err
			}
			return ferr
		}
		why := fmt.Errorf("%s%s", cause, in.tail.last())
		if err := in.restart(ctx, why); err != nil {
			return err
		}
		if crashes >= 2 {
			// The same request crashed a fresh process again: let the
			// engine find the culprit record (or fail the record when
			// this was a single-record call).
			return fmt.Errorf("%s crashed while transforming: %w", in.st.label, why)
		}
		// Re-send the in-flight request to the new process.
	}
}

// watched runs do and, while it runs longer than the health interval,
// checks that the plugin still answers; a plugin that does not is treated
// as dead.
func (in *instance) watched(ctx context.Context, p *proc, do func(context.Context, *proc) error) error {
	if in.st.health <= 0 {
		return do(ctx, p)
	}
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var timer *time.Timer
	timer = time.AfterFunc(in.st.health, func() {
		hctx, hcancel := context.WithTimeout(cctx, in.st.health)
		err := checkHealth(hctx, p.c.cc)
		hcancel()
		if cctx.Err() != nil {
			return
		}
		if err != nil {
			cancel(errUnresponsive)
			return
		}
		timer.Reset(in.st.health)
	})
	defer timer.Stop()
	err := do(cctx, p)
	if err != nil && ctx.Err() == nil && errors.Is(context.Cause(cctx), errUnresponsive) {
		return fmt.Errorf("%w: %w", errUnresponsive, err)
	}
	return err
}

// died reports whether err means the process is gone or unusable.
func (in *instance) died(p *proc, err error) bool {
	if errors.Is(err, errUnresponsive) || p.exited() {
		return true
	}
	if _, ok := status.FromError(err); !ok {
		return true
	}
	hctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	return checkHealth(hctx, p.c.cc) != nil
}

// request fills the reused request records from recs.
func (in *instance) request(recs []*engine.Record) []*rpcpb.Record {
	for len(in.pbRecs) < len(recs) {
		in.pbRecs = append(in.pbRecs, &rpcpb.Record{})
	}
	out := in.pbRecs[:len(recs)]
	for i, r := range recs {
		out[i].Data, out[i].Meta, out[i].MetaSet = r.Data, r.Meta, r.Meta != nil
	}
	return out
}

func (in *instance) release(n int) {
	for _, r := range in.pbRecs[:n] {
		r.Data, r.Meta = nil, nil
	}
}

// exchange sends recs in one call or, above SplitBytes, in several, and
// returns one result per record.
func (in *instance) exchange(ctx context.Context, recs []*engine.Record) ([]*rpcpb.Result, error) {
	req := in.request(recs)
	defer in.release(len(recs))
	var results []*rpcpb.Result
	for start := 0; start < len(req); {
		end, size := start, 0
		for end < len(req) && (end == start || size+len(req[end].Data)+64 <= SplitBytes) {
			size += len(req[end].Data) + 64
			for k, v := range req[end].Meta {
				size += len(k) + len(v) + 8
			}
			end++
		}
		part := req[start:end]
		var resp *rpcpb.BatchResponse
		err := in.call(ctx, func(ctx context.Context, p *proc) error {
			var err error
			in.calls++
			resp, err = p.c.rpc.TransformBatch(ctx, &rpcpb.BatchRequest{Records: part})
			return err
		})
		if err != nil {
			return nil, err
		}
		if len(resp.Results) != len(part) {
			return nil, fmt.Errorf("%s returned %d results for a batch of %d records (want one per record)", in.st.label, len(resp.Results), len(part))
		}
		if start == 0 && end == len(req) {
			return resp.Results, nil
		}
		results = append(results, resp.Results...)
		start = end
	}
	return results, nil
}

// TransformBatch sends the whole batch to the plugin in one call.
func (in *instance) TransformBatch(ctx context.Context, recs []*engine.Record, out *engine.BatchResult) error {
	results, err := in.exchange(ctx, recs)
	if err != nil {
		return err
	}
	for i, res := range results {
		in.apply(recs[i], res, func(o *engine.Record) { out.Emit(i, o) }, func(err error) { out.Fail(i, err) })
	}
	return nil
}

// apply turns one plugin result into emits or a failure.
func (in *instance) apply(rec *engine.Record, res *rpcpb.Result, emit func(*engine.Record), fail func(error)) {
	if res.Error != "" {
		if c := in.st.child; c != nil && c.RecordError != nil {
			fail(c.RecordError(res.Error))
			return
		}
		fail(errors.New(res.Error))
		return
	}
	switch len(res.Records) {
	case 0:
	case 1:
		// The common case: reuse the input record.
		r := res.Records[0]
		rec.Data = r.Data
		if r.MetaSet {
			rec.Meta = metaOf(r.Meta)
		}
		emit(rec)
	default:
		for _, r := range res.Records {
			o := rec.Derive(r.Data)
			if r.MetaSet {
				o.Meta = metaOf(r.Meta)
			}
			emit(o)
		}
	}
}

func metaOf(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// Flush asks the plugin for its end-of-stream records. A plugin restarted
// during the run flushes the state of its latest process only.
func (in *instance) Flush(ctx context.Context, emit func(*engine.Record)) error {
	var resp *rpcpb.FlushResponse
	err := in.call(ctx, func(ctx context.Context, p *proc) error {
		var err error
		resp, err = p.c.rpc.Flush(ctx, &rpcpb.FlushRequest{})
		if status.Code(err) == codes.Unimplemented {
			resp, err = &rpcpb.FlushResponse{}, nil // Flush is optional
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("flush: %w", err)
	}
	for _, r := range resp.Records {
		o := engine.NewRecord(r.Data)
		if r.MetaSet {
			o.Meta = maps.Clone(metaOf(r.Meta))
		}
		emit(o)
	}
	return nil
}

// closeTimeout bounds the plugin's Close call. It is generous: a healthy
// plugin answers in milliseconds, but under -race on a loaded 2-core
// machine a fresh process took over 2 s (TestUnresponsivePlugin failed).
const closeTimeout = 10 * time.Second

// Close closes the plugin and stops its process.
func (in *instance) Close() error {
	if in.p == nil {
		return nil
	}
	p := in.p
	in.p = nil
	ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
	defer cancel()
	var err error
	if !p.exited() {
		if _, cerr := p.c.rpc.Close(ctx, &rpcpb.CloseRequest{}); cerr != nil && !p.exited() && status.Code(cerr) != codes.Unimplemented {
			err = fmt.Errorf("close %s: %s", in.st.label, status.Convert(cerr).Message())
		}
	}
	p.stop()
	return err
}

var (
	_ engine.BatchTransformer = (*instance)(nil)
	_ engine.Opener           = (*instance)(nil)
	_ engine.Flusher          = (*instance)(nil)
	_ engine.Closer           = (*instance)(nil)
)
