// Package rpcplugin is the Go SDK for rpc plugins: a plugin's main calls
// Serve (or ServeFunc) with a stage.Transformer, and the process speaks
// the protocol of ../PROTOCOL.md (hashicorp/go-plugin's gRPC protocol with
// the Transformer service) to the pipe that started it.
//
// It depends on package stage, gRPC, protobuf and go-plugin only, not on
// the engine: a plugin links none of pipe's YAML, JSON Schema, compression
// or JSON path libraries, and needs no module version in common with the
// pipe that runs it (the two meet over the protocol). The host side is
// package github.com/pipe-dev/pipe/stages/rpc; a test in this directory
// checks that this package never comes to depend on it or on the engine.
//
// # Lifecycle
//
// The host starts the process, which answers the go-plugin handshake on
// stdout. Open builds the transformer from the stage's config: (ServeFunc's
// constructor; an error is reported to the user as a configuration error)
// and calls its Open (stage.Opener); TransformBatch calls Transform for
// every record of a batch; Flush calls stage.Flusher's Flush; Close calls
// stage.Closer's Close. After a crash, the host starts a new process and
// opens it again: in-memory state does not survive.
//
// # Concurrency
//
// The host never makes two calls at once on one process (workers: N starts
// N processes), so the transformer is used as an instance of any other
// kind: never concurrently.
//
// # Errors
//
// An error from Transform fails that record only (the stage's on_error
// decides); a panic in Transform fails the record with a message starting
// "panic:" instead of ending the process. Writes to os.Stderr and os.Stdout
// after Serve began reach the host's log, with the stage's name.
package rpcplugin
