// Package wasm is the wasm stage kind (type: wasm): a WebAssembly module,
// built by any toolchain that follows ABI v1 (ABI.md), runs in wazero.
//
// A stage names the module with path: and may set memory_limit (default
// 64MiB) and allow: [clock, random]. The Go SDK for guests is package
// guest; README.md shows a Go guest and a hand-written WAT guest.
//
// # Lifecycle
//
// Build decodes the stage's fields without I/O. Load reads and compiles the
// module once per stage (through a compilation cache in the user cache
// directory, so a restart does not compile again), checks its exports,
// imports and ABI version, and instantiates it once to hand it the stage's
// config (pipe_init): a module that is not a pipe guest or rejects its
// config is a configuration error, so `pipe lint` reports it. Every worker
// gets its own instance of the compiled module; the first takes the one Load
// made.
//
// # Concurrency
//
// One wazero runtime per stage (the memory limit is a runtime setting), one
// module instance per worker, never called concurrently.
//
// # Errors
//
// A whole batch crosses into the guest in one pipe_transform call; the
// guest reports a result per record (records, drop or an error message).
// A trap, an exit, a malformed result or a timeout fails the whole call: the
// instance is discarded (a fresh one is made for the next call, its state
// lost), and the engine re-runs the batch one record per call so that only
// the culprit record takes the stage's on_error policy. Timeouts really stop
// a spinning guest: the runtime is built with close-on-context-done, which
// adds a check of the context to every function entry and loop iteration of
// the guest.
package wasm
