package rpc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v5"
)

// TestBackoffJitter: the delays before restarts grow exponentially from
// 50ms to the 2s cap, each within ±50% of its step, and are not all equal
// (jitter, so that workers do not restart in lockstep).
func TestBackoffJitter(t *testing.T) {
	b := newBackoff()
	step := backoffInitial
	seen := map[time.Duration]bool{}
	for i := range 12 {
		d := b.NextBackOff()
		if d < step/2 || d > step+step/2 {
			t.Errorf("delay %d = %v, want within ±50%% of %v", i, d, step)
		}
		seen[d] = true
		step = min(2*step, backoffMax)
	}
	if len(seen) < 6 {
		t.Errorf("delays %v: no jitter", seen)
	}
}

// TestBackoffHonoursCancellation: a restart waiting for its backoff stops
// waiting when the context is cancelled, returns the cancellation (not a
// fatal error) and starts nothing.
func TestBackoffHonoursCancellation(t *testing.T) {
	st := &stage{retries: 5, window: time.Hour, path: "plugin", log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	in := &instance{st: st, restarts: []time.Time{time.Now()}, // a restart in the window already: the next one waits
		backoff: &backoff.ExponentialBackOff{InitialInterval: time.Hour, MaxInterval: time.Hour, Multiplier: 2}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- in.restart(ctx, errors.New("crashed")) }()
	cancel()
	err := <-done // without cancellation this waits an hour: the test times out
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("restart = %v, want context.Canceled", err)
	}
	if len(in.restarts) != 1 || in.p != nil {
		t.Errorf("a start was attempted after the cancellation (%d restarts)", len(in.restarts))
	}
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleep on a cancelled context = %v", err)
	}
}
