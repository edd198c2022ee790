// Package httpout is the http output (output: {type: http}): it sends the
// pipeline's records to a URL in batches and reports what a failure means
// to the engine's retry policy. See README.md.
//
// The package registers the output with the engine when it is imported
// (connectors/all imports it for cmd/pipe). Client is usable on its own.
//
// # Lifecycle
//
// New checks a Config without I/O; Connect reads the token and prepares the
// connection pool (it does not contact the destination); Write sends
// records; Close closes idle connections.
//
// # Concurrency
//
// A Client's Write is called by one goroutine at a time; Healthy and the
// counters may be read from any.
//
// # Errors
//
// Write returns a *StatusError for an answer other than 2xx (Transient
// says whether sending again can help, RetryAfter what the destination
// asked), a transport error (wrapping the syscall error, such as
// ECONNREFUSED) or the context's error. The registered output wraps
// permanent statuses with connector.Permanent and Retry-After waits with
// connector.RetryAfter. Configuration errors are *FieldError values.
package httpout
