package isolate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stage"
	"github.com/pipe-dev/pipe/stages/rpc/rpcplugin"
)

// ServeIfChild returns at once unless this process is the child of an
// isolated stage (its environment says so); then it serves the stage until
// the parent closes it, and exits. Call it first thing in main.
func ServeIfChild() {
	if os.Getenv(envChild) != "1" || os.Getenv(rpcplugin.MagicCookieKey) != rpcplugin.MagicCookieValue {
		return
	}
	rpcplugin.ServeFunc(open)
	os.Exit(0)
}

// open builds, loads and opens the stage the parent describes in cfg,
// once the memory limit is in force (so that loading counts against it).
func open(cfg stage.Config) (stage.Transformer, error) {
	js, err := cfg.JSON()
	if err != nil {
		return nil, err
	}
	var cc childConfig
	if err := json.Unmarshal(js, &cc); err != nil {
		return nil, fmt.Errorf("isolated stage: bad description from the parent: %w", err)
	}
	if cc.MemoryLimit > 0 {
		if err := limitMemory(cc.MemoryLimit); err != nil {
			fmt.Fprintf(os.Stderr, "isolated stage %s: no OS memory limit: %v\n", cc.Stage.Name, err)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	st, err := engine.DefaultRegistry.BuildDescribed(cc.Stage, log)
	if err != nil {
		return nil, err
	}
	if m, ok := st.(MemoryBounded); ok && cc.MemoryLimit > 0 {
		m.UseProcessLimit()
	}
	ctx := context.Background()
	if l, ok := st.(engine.Loader); ok {
		if err := l.Load(ctx); err != nil {
			closeStage(st)
			return nil, err
		}
	}
	t, err := st.New(ctx)
	if err != nil {
		closeStage(st)
		return nil, err
	}
	return &child{st: st, t: t, timeout: cc.Stage.Timeout}, nil
}

func closeStage(st engine.Stage) {
	if c, ok := st.(io.Closer); ok {
		_ = c.Close()
	}
}

// limitMemory lets the process map at most limit bytes of data more than
// it has now (the OS limit, where there is one), and makes the garbage
// collector work harder as the Go heap nears the same bound, so that
// garbage is not what reaches it.
func limitMemory(limit int64) error {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		debug.SetMemoryLimit(int64(s[0].Value.Uint64()) + limit)
	}
	return limitData(limit)
}

// child is the stage's instance as the child serves it: each record under
// the stage's timeout, cut a little earlier than the parent's so that a
// record that overruns fails by itself instead of costing a restart.
type child struct {
	st      engine.Stage
	t       engine.Transformer
	timeout time.Duration
}

// cut is the time a record may run in the child: its timeout less a tenth
// (at most 100ms) for the answer to reach the parent.
func cut(timeout time.Duration) time.Duration {
	return timeout - min(timeout/10, 100*time.Millisecond)
}

// bounded runs fn under the record's timeout; a call that overruns fails
// with ErrStageTimeout whatever it returned, and the instance is reset.
func (c *child) bounded(ctx context.Context, fn func(context.Context) error) error {
	if c.timeout <= 0 {
		return fn(ctx)
	}
	cause := fmt.Errorf("%w after %v (in the isolated process)", engine.ErrStageTimeout, c.timeout)
	tctx, cancel := context.WithTimeoutCause(ctx, cut(c.timeout), cause)
	defer cancel()
	err := fn(tctx)
	if tctx.Err() != nil && ctx.Err() == nil && errors.Is(context.Cause(tctx), engine.ErrStageTimeout) {
		if r, ok := c.t.(stage.Resetter); ok {
			if rerr := r.Reset(ctx); rerr != nil {
				return engine.Fatal(rerr)
			}
		}
		return cause
	}
	return err
}

func (c *child) Open(ctx context.Context) error {
	if o, ok := c.t.(engine.Opener); ok {
		return o.Open(ctx)
	}
	return nil
}

func (c *child) Transform(ctx context.Context, rec *engine.Record, emit func(*engine.Record)) error {
	return c.bounded(ctx, func(ctx context.Context) error { return c.t.Transform(ctx, rec, emit) })
}

func (c *child) Flush(ctx context.Context, emit func(*engine.Record)) error {
	f, ok := c.t.(engine.Flusher)
	if !ok {
		return nil
	}
	return c.bounded(ctx, func(ctx context.Context) error { return f.Flush(ctx, emit) })
}

func (c *child) Close() error {
	var err error
	if cl, ok := c.t.(engine.Closer); ok {
		err = cl.Close()
	}
	if cl, ok := c.st.(io.Closer); ok {
		err = errors.Join(err, cl.Close())
	}
	return err
}

var (
	_ stage.Transformer = (*child)(nil)
	_ stage.Opener      = (*child)(nil)
	_ stage.Flusher     = (*child)(nil)
	_ stage.Closer      = (*child)(nil)
)
