// Package engine runs streaming data pipelines: an input, a chain of stages,
// an output. Every stage, whatever its kind (native Go, Lua, JavaScript,
// WASM, an rpc plugin), is a Transformer, with the same semantics: emit,
// drop, split, metadata, per-record errors, timeouts.
//
// The stage contract itself (Record, Transformer and its optional
// interfaces, the Config interface, the error types) is package stage,
// which plugins import without the engine; the names here (Record,
// Transformer, ...) are aliases of it, kept for one release.
//
// A pipeline is usually written as a YAML file (see Load and Parse) and run
// with Run; it can also be built in code (Build with a Spec) and fed records
// directly (Stream, Process).
//
// # Lifecycle
//
// Build (or Load) decodes and validates the spec and builds every stage
// through its kind's KindFunc: no I/O. Pipeline.Load then loads and compiles
// what each stage shares (Loader: scripts, modules, plugins) once per stage;
// `pipe lint` stops there. Each run makes one instance per worker
// (Stage.New), opens it (Opener), calls Transform or TransformBatch for every
// record, Flush at end of stream (Flusher) and Close (Closer), also after a
// failed Open or a failed run. Pipeline.Close releases the stages.
//
// # Concurrency
//
// Records move in batches (up to 1024 records or 64 KiB). A batch is sent on
// as soon as the input has no more bytes ready, so a slow input (tail -f)
// streams record by record. Each stage runs in its own goroutines, linked by
// bounded queues, so memory stays bounded by batch size × queue depth ×
// workers whatever the input's size. workers: N makes N instances fed
// round-robin; their output is collected in the same order, so the output
// order is always the input order. An instance is never called concurrently.
//
// # Timeouts
//
// Every Transform call gets a context whose deadline is the stage's
// per-record timeout (default 5s, 0 for none): ctx.Deadline() reports it. A
// TransformBatch call of n records gets a budget that scales with n: four
// times what n records took at the worker's average in its earlier batch
// calls that ended in time, at least the timeout and at most n times it
// (the first batch call of a worker, with nothing measured yet, gets the
// timeout). When a call
// overruns, its context is done, ctx.Err() is context.DeadlineExceeded and
// its cause an error matching both ErrStageTimeout and
// context.DeadlineExceeded (between 1 and 1.25 times
// the timeout after the call began: a watchdog ticks at a quarter of the
// timeout, which keeps the cost of a call to an uncontended lock), and the
// record fails with it, whatever the call returns. When a batch call fails as a whole
// (timeout, trap, crash), the engine re-runs the batch one record per call,
// each with its own timeout, so only the culprit takes the on_error policy.
// Kinds interrupt their runtime on ctx (Lua's SetContext, goja's Interrupt,
// wazero's close-on-context-done, an rpc call deadline); native Go code is
// cooperative and must honour ctx.
//
// # Components
//
// A Registry (DefaultRegistry unless WithRegistry; Clone for an isolated
// copy) holds the stage kinds (KindSpec), the native transformers (Native)
// and the inputs, outputs and codecs. Each carries a component.Spec of its
// configuration, reflected from the struct it decodes into: Parse checks
// every stage's config: and kind fields against it, PipelineSchema turns it
// into a JSON Schema, and `pipe stages NAME` and docs/reference print it.
// A kind also says its filter-mode flag, the files its stages depend on
// (Pipeline.Files) and whether a change applies live (Pipeline.CheckLive).
//
// # Inputs, outputs and delivery
//
// Inputs and outputs are connectors (package connector), registered with
// RegisterInput and RegisterOutput; stdin, stdout and file are built in
// (packages connectors/stdio and connectors/file). An input batch is
// acknowledged to its source, in read order, once every record derived
// from it was written by the output, dropped or dead-lettered; a record
// that fails under on_error: fail never is. Outputs that report transient
// errors are retried (the output's retry:), then take the output's
// on_error. Pipeline.Delivery reports acknowledgements, the watermark and
// retries; Pipeline.Ready is false while an output retries.
//
// # Errors
//
// Configuration errors are *ConfigError values ("FILE:LINE:COL: message");
// a file with several mistakes gives a ConfigErrors holding every one
// (errors.As to *ConfigError finds the first). The CLI exits 2 for them. A record that fails takes its stage's on_error
// policy: fail stops the pipeline with a *StageError naming the stage, the
// input record number and the cause (exit 1); drop counts it and goes on;
// dead_letter writes it as a JSON line (time, stage, record_number, error,
// record, meta) to the pipeline's dead_letter file and goes on. Records the
// input codec rejects (malformed JSON, too large, invalid UTF-8 or NUL bytes
// when asked) take the input's policy, under the stage name "input". Errors
// wrapped with Fatal stop the pipeline whatever the policy.
//
// Accounting holds for every stage and every run: In = Passed + Dropped +
// Errors (Pipeline.Stats); no record is lost or duplicated.
package engine
