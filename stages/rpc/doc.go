// Package rpc is the rpc stage kind: a plugin executable, run as a child
// process, speaking hashicorp/go-plugin's gRPC protocol with the Transformer
// service of package proto (see PROTOCOL.md). It registers the kind "rpc".
//
// # Plugins
//
// A Go plugin writes a stage.Transformer and calls rpcplugin.Serve (or
// rpcplugin.ServeFunc for a transformer built from the stage's config) from
// main: package rpcplugin is the SDK, which links package stage but not this
// package or the engine. Serve and ServeFunc here are kept for one release.
// Plugins in other languages implement PROTOCOL.md.
//
// # Lifecycle
//
// Build decodes the kind's fields (args, sha256, env, start_timeout,
// health_interval, max_restarts, restart_window) without I/O. Load checks the binary and
// starts it once (handshake, health, Open with the config), so `pipe lint`
// reports a binary that is not a plugin as a configuration error; that
// process serves the first worker. Each further worker starts its own
// process. Close sends Close and stops the process.
//
// # Supervision
//
// Every batch is one TransformBatch call whose deadline scales with the
// batch (the engine's batch budget, see engine's # Timeouts). A process that dies during a call is restarted and
// gets the same batch again; a batch that
// kills a fresh process again is handed back to the engine, which re-runs it
// record by record so that only the record at fault takes on_error. A plugin
// that overruns the deadline or fails its health checks is killed and
// restarted. One rule bounds restarts: at most max_restarts per worker
// within restart_window, every start attempt counted, the first immediate
// and later ones after an exponential backoff with jitter that ends when
// the context does. One more stops the pipeline (engine.Fatal) with the
// plugin's last stderr lines, as does a binary that no longer matches its
// sha256 pin (refused at once, with a plugin_refused event).
//
// # Children
//
// NewChild runs a process of pipe's own under the same supervision: the
// child of a stage of isolation: process (package stages/isolate). Its
// binary is not pinned, and a crash its stderr shows to be the records'
// fault (Child.Fault: out of memory) fails the records instead of being
// re-sent, without counting against max_restarts.
package rpc
