// Package stage is the contract between pipe and the code that transforms
// records: Record, Transformer and its optional interfaces, the Config a
// stage is built from, the errors that cross the boundary, and APIVersion.
// It depends on the standard library alone, so a plugin that imports it (a Go
// plugin .so, an rpc plugin through the rpc Go SDK) links nothing of the
// engine: no YAML, JSON Schema, compression or JSON path libraries, and no
// shared module whose version it must match with the host.
//
// Package engine builds and runs pipelines of stages that follow this
// contract; it keeps aliases of these names (engine.Record,
// engine.Transformer, ...) for one release.
//
// # Lifecycle
//
// A stage is built from its Config (decode and validate, no I/O): a Go
// constructor has the type func(Config) (Transformer, error) and returns a
// new instance on every call, one per worker. Each instance is then opened
// (Opener; load a script, start a process), called with Transform, or with
// TransformBatch when it is a BatchTransformer, for every record, flushed at
// end of stream (Flusher; emit aggregates) and closed (Closer), also after a
// failed Open or a failed run. After a call that its stage's timeout
// interrupted, an instance that implements Resetter is reset before its next
// call. A stage that emits on a clock implements Ticker; one that holds the
// effect of consumed records (a window) implements Retainer, so that their
// input records are acknowledged only after the window was written. Every
// optional interface is found by type assertion: implement only what you
// need.
//
// # Concurrency
//
// An instance is never called concurrently: workers: N makes N instances,
// each used by one goroutine, so an instance keeps its state without locks.
// Instances of one stage run at the same time, so what they share (a
// compiled program, a cache made by the constructor) must be safe for
// concurrent use. The engine keeps the output in input order whatever the
// number of workers. A Record handed to Transform belongs to that call; once
// emitted it belongs to the engine.
//
// # Timeouts
//
// Every Transform call gets a context whose deadline is the stage's
// per-record timeout (default 5s, 0 for none); a TransformBatch call gets the
// same deadline for the whole batch. When a call overruns, its context is
// cancelled with a cause wrapping ErrStageTimeout and the record fails with
// it, whatever the call returns. When a batch call fails as a whole
// (timeout, trap, crash), the engine re-runs the batch one record per call,
// each with its own timeout, so only the culprit takes the on_error policy.
// Native Go code is cooperative: honour ctx in anything that can block or
// loop for long.
//
// # Errors
//
// An error returned by Transform (or reported with BatchResult.Fail) fails
// that record only; the stage's on_error policy decides what follows (fail:
// stop the pipeline with a *StageError naming the stage, the record number
// and the cause; drop; dead_letter). An error wrapped with Fatal stops the
// pipeline whatever the policy. A constructor or Decode that rejects the
// configuration returns a *ConfigError ("FILE:LINE:COL: message"; use
// Config.Errorf to position it), which the command line reports with exit
// status 2. ErrStageTimeout, ErrRecordTooLarge and ErrInvalidRecord are the
// causes of the engine's own record failures; test them with errors.Is.
package stage
