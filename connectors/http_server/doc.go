// Package httpserver is the http_server input (input: {type:
// http_server}): it receives records in HTTP POST bodies and answers each
// request once the pipeline acknowledged its records. See README.md for
// the answers and their meaning.
//
// The package registers the input with the engine when it is imported
// (connectors/all imports it for cmd/pipe). Server is usable on its own:
// it turns requests into Requests that a consumer takes with Next and
// answers with Ack.
//
// # Lifecycle
//
// New checks a Config without I/O; Open reads the token and TLS files and
// listens; Next hands out requests; Stop refuses new requests (503) and
// answers the queued ones (503); Close waits for the acknowledgements of
// the requests in flight (until its context ends) and closes the listener.
//
// # Concurrency
//
// Next is called by one goroutine at a time; Ack, Stop and Close may be
// called from any goroutine. Every request Next returned must be
// acknowledged, once; later calls of Ack do nothing.
//
// # Errors
//
// Configuration errors are *FieldError values naming the field; the input
// positions them in the pipeline file (FILE:LINE:COL). A Result whose Err
// wraps ErrStopped answers 503 (send again), any other error 500.
package httpserver
