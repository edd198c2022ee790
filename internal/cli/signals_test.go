package cli

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// TestArmedSignals: a SIGTERM that comes after armSignals (while the
// pipeline is read and built) and before the run has its context stops the
// run as one after it does: the context is cancelled and the signal kept
// for the exit code. A run that never took its signals releases them.
func TestArmedSignals(t *testing.T) {
	// Keep SIGTERM from ending the test binary whatever happens below.
	guard := make(chan os.Signal, 1)
	signal.Notify(guard, syscall.SIGTERM)
	defer signal.Stop(guard)

	a := &app{stderr: &bytes.Buffer{}}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	armed := armSignals(true)
	<-armed.ready // registered: the signal below goes to its channel too
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	ctx, stop := a.armedContext(log, armed)
	armed.release(false) // taken: a no-op, stop unregisters
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second): // a bound far beyond, not a speed check
		t.Fatal("a SIGTERM before the run started did not cancel it")
	}
	if sig, _ := a.signal.Load().(os.Signal); sig != syscall.SIGTERM {
		t.Errorf("signal recorded %v, want SIGTERM", sig)
	}
	<-guard // the first SIGTERM's copy, so the next receive waits for the second
	stop()  // else the next SIGTERM is the run's second: exit at once

	// Armed and never taken (the run failed before it started): release
	// unregisters both channels, so a later signal reaches neither.
	other := armSignals(false)
	other.release(false)
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-guard // delivered (to the guard, registered for the whole test)
	select {
	case s := <-other.ch:
		t.Errorf("released channel got %v", s)
	default:
	}
}
