package lua

import (
	"context"
	"errors"
	"testing"
	"time"
)

// An interrupt's Done is nil (a select with a default goes on) until its
// context is done, then closed, and its Err is the context's; after release,
// the context ending does not reach it.
func TestInterrupt(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	in := newInterrupt(ctx)
	if in.Done() != nil || in.Err() != nil {
		t.Fatalf("live context: Done %v, Err %v", in.Done(), in.Err())
	}
	cancel()
	select {
	case <-waitDone(in):
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after the context was cancelled")
	}
	if !errors.Is(in.Err(), context.Canceled) {
		t.Fatalf("Err = %v, want context.Canceled", in.Err())
	}
	in.release()

	ctx, cancel = context.WithCancel(context.Background())
	in = newInterrupt(ctx)
	in.release()
	cancel()
	time.Sleep(10 * time.Millisecond) // an AfterFunc that was not stopped would have run by now, usually
	if in.Done() != nil {
		t.Fatal("a released interrupt was closed")
	}

	in = newInterrupt(context.Background()) // never done
	if in.Done() != nil {
		t.Fatal("Done of a context that is never done")
	}
	in.release()
}

// waitDone polls in.Done as the Lua main loop does.
func waitDone(in *interrupt) <-chan struct{} {
	c := make(chan struct{})
	go func() {
		for {
			select {
			case <-in.Done():
				close(c)
				return
			default:
				time.Sleep(time.Millisecond)
			}
		}
	}()
	return c
}
