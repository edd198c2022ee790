package rpc

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pipe-dev/pipe/engine"
	rpcpb "github.com/pipe-dev/pipe/stages/rpc/proto"
)

// instance is one worker's plugin process, supervised: it is started on
// Open, restarted (with backoff, at most max_restarts times in a row) when it
// dies, and killed when it does not answer within the call's deadline.
type instance struct {
	st   *stage
	p    *proc
	tail *tail

	pbRecs []*rpcpb.Record // reused request records
	crashy int             // calls in a row that crashed the plugin
	calls  int             // TransformBatch calls made (for tests)
}

// errUnresponsive cancels a call whose plugin failed a health check.
var errUnresponsive = errors.New("plugin does not answer its health checks")

// maxCrashStreak is how many calls in a row may crash the plugin before the
// stage gives up (a plugin that crashes on every record).
const maxCrashStreak = 50

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

// restart starts a new process after the old one died, with bounded retries
// and exponential backoff. Exhausted retries are fatal for the pipeline.
func (in *instance) restart(ctx context.Context, why error) error {
	if in.p != nil {
		in.st.events.Emit("plugin_crashed", "path", in.st.path, "pid", in.p.pid, "reason", why.Error(), "stderr", in.tail.last())
		in.p.kill()
		in.p = nil
	}
	var err error
	backoff := 50 * time.Millisecond
	for attempt := 0; attempt <= in.st.retries; attempt++ {
		if attempt > 0 {
			time.Sleep(backoff)
			backoff = min(2*backoff, 2*time.Second)
		}
		start := time.Now()
		var p *proc
		p, err = in.st.start(ctx, in.tail)
		if err == nil {
			in.st.log.Warn("plugin restarted", "path", in.st.path, "reason", why, "attempt", attempt+1, "took", time.Since(start))
			in.p = p
			in.st.events.Restarted("path", in.st.path, "pid", p.pid, "attempt", attempt+1, "took_ms", time.Since(start).Milliseconds())
			return nil
		}
		in.st.log.Warn("plugin restart failed", "path", in.st.path, "attempt", attempt+1, "err", err)
	}
	return engine.Fatal(fmt.Errorf("plugin %s died (%v) and could not be restarted (%d attempts): %w", in.st.path, why, in.st.retries+1, err))
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
			in.crashy = 0
			return nil
		}
		if ctx.Err() != nil {
			// The plugin did not answer within the deadline: it may be
			// stuck in a loop; kill it so it cannot keep working on a
			// record the engine gave up on.
			cause := context.Cause(ctx)
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
			return ctx.Err()
		}
		if !in.died(p, err) {
			// The plugin answered with an error status.
			return fmt.Errorf("plugin %s: %s", in.st.path, status.Convert(err).Message())
		}
		crashes++
		in.crashy++
		in.st.log.Warn("plugin died during a call; restarting it", "path", in.st.path, "err", err, "crashes", crashes)
		cause := status.Convert(err).Message()
		if p.exited() {
			cause = "the process exited"
		}
		why := fmt.Errorf("%s%s", cause, in.tail.last())
		if in.crashy >= maxCrashStreak {
			p.kill()
			in.p = nil
			return engine.Fatal(fmt.Errorf("plugin %s crashed on %d calls in a row: %w", in.st.path, in.crashy, why))
		}
		if err := in.restart(ctx, why); err != nil {
			return err
		}
		if crashes >= 2 {
			// The same request crashed a fresh process again: let the
			// engine find the culprit record (or fail the record when
			// this was a single-record call).
			return fmt.Errorf("plugin %s crashed while transforming: %w", in.st.path, why)
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
			return nil, fmt.Errorf("plugin %s returned %d results for a batch of %d records (want one per record)", in.st.path, len(resp.Results), len(part))
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

// Close closes the plugin and stops its process.
func (in *instance) Close() error {
	if in.p == nil {
		return nil
	}
	p := in.p
	in.p = nil
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var err error
	if !p.exited() {
		if _, cerr := p.c.rpc.Close(ctx, &rpcpb.CloseRequest{}); cerr != nil && !p.exited() && status.Code(cerr) != codes.Unimplemented {
			err = fmt.Errorf("close plugin %s: %s", in.st.path, status.Convert(cerr).Message())
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
