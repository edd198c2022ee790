// Command supervise is an rpc plugin for the supervision tests of the
// trust work (restart accounting, output after the handshake, start-up
// errors); its first argument picks a behaviour.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/pipe-dev/pipe/stage"
	"github.com/pipe-dev/pipe/stages/rpc/rpcplugin"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: supervise MODE")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "stdout": // prints each record on its real stdout (fd 1), after the handshake
		out := os.NewFile(1, "stdout") // rpc.Serve redirects os.Stdout, not fd 1
		rpcplugin.Serve(stage.TransformerFunc(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			fmt.Fprintf(out, "stdout line %s\n", r.Data)
			emit(r)
			return nil
		}))
	case "dying": // closes stdout, then writes its last words to stderr slowly and exits
		syscall.Close(1)
		fmt.Fprintln(os.Stderr, "first words")
		time.Sleep(200 * time.Millisecond)
		fmt.Fprintln(os.Stderr, "last words: license file missing")
		os.Exit(1)
	case "inherit": // reports what it got of the host's stdin and environment
		in, _ := io.ReadAll(os.Stdin)
		got := fmt.Sprintf("stdin=%q env=%q", in, os.Getenv("PIPE_TEST_HOST_SECRET"))
		rpcplugin.Serve(stage.TransformerFunc(func(_ context.Context, r *stage.Record, emit func(*stage.Record)) error {
			r.Data = []byte(got)
			emit(r)
			return nil
		}))
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", os.Args[1])
		os.Exit(2)
	}
}
