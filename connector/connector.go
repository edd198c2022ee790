// Package connector is the contract between pipe's engine and its inputs and
// outputs (connectors): files, stdin and stdout, HTTP, message brokers.
//
// An input hands the engine batches of records, or byte streams that the
// engine's codec frames into records, and learns through acknowledgements
// which of them were delivered. An output writes the records the stages
// made. Connectors register themselves with a constructor and a config
// struct (see InputType and OutputType); the engine turns the config struct
// into a component spec, so `pipe schema`, `pipe stages NAME` and the
// reference docs describe every connector's fields.
//
// The package depends on the standard library and package stage alone, so a
// connector never imports the engine.
//
// # Lifecycle
//
// New (decode and validate the config, no I/O) → Connect (open files,
// dial, listen) → reads or writes → Close. The engine calls New when the
// pipeline is built (so `pipe lint` checks the config) and again for each
// run. Close is called also after a failed Connect, once, with a context
// that bounds how long it may take.
//
// # Delivery
//
// pipe delivers at least once. The engine acknowledges an input batch
// (calls its AckFunc, or its Stream's Ack) only when every record derived
// from the batch's records was written by the output (see Output for what
// "written" means), dropped by a stage, or written to the dead-letter file
// and flushed. A record that fails under on_error: fail is never
// acknowledged as delivered. The engine keeps the input's order through
// every stage, so acknowledgements come in read order: an input needs one
// watermark (a file offset, a broker sequence), not per-record bookkeeping.
//
// Duplicates appear only for records that were delivered but not yet
// acknowledged when the process died (or whose acknowledgement failed):
// an input re-reads from its last persisted position.
//
// # Concurrency
//
// The engine calls an input's and an output's methods from one goroutine
// at a time, except Close, which may be called while a read is blocked (to
// end it), and acknowledgements, which come from another goroutine than
// the reads (one goroutine for all acknowledgements of an input, so they
// are never concurrent with each other).
package connector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/pipe-dev/pipe/stage"
)

// ErrEndOfInput is returned by ReadBatch and NextStream when the input has
// nothing more to give (the end of the files, of stdin). The engine then
// drains what is in flight, flushes the stages and the output and ends the
// run successfully. Inputs that never end (a followed file, a broker) do
// not return it; they end when the run's context is cancelled.
var ErrEndOfInput = errors.New("end of input")

// ErrNotDelivered is the cause an acknowledgement carries for a batch that
// was not delivered because an earlier batch was not (acknowledgements
// come in read order, and after the first failure every later batch of the
// run fails too).
var ErrNotDelivered = errors.New("not delivered")

// AckFunc acknowledges one batch. The engine calls it exactly once per
// batch that ReadBatch returned (also when the run fails or is cancelled),
// in read order, never concurrently with another AckFunc of the same input.
//
// err == nil means every record derived from the batch's records was
// delivered: written by the output (flushed to its destination; for a file
// output, written to the file, and fsynced before any checkpoint is
// persisted), dropped by a stage, or dead-lettered with its line flushed.
// err != nil means the batch was not delivered (a record failed under
// on_error: fail, the output gave up, the run was cancelled before the
// batch was written); the input should make it available again (nack,
// redeliver, leave the offset where it was). After one failed
// acknowledgement every later batch of the run is acknowledged with an
// error too (wrapping ErrNotDelivered).
//
// ctx bounds the acknowledgement itself. An AckFunc may block (to persist a
// checkpoint); later acknowledgements wait for it. A returned error is
// logged and counted by the engine and does not stop the run (the records
// were delivered: the source may deliver them again).
type AckFunc func(ctx context.Context, err error) error

// Input is the part every input implements. It also implements exactly one
// way of reading: BatchReader (records, or bytes for the codec, with an
// acknowledgement per batch) or StreamReader (byte streams the codec frames,
// acknowledged by position). The engine finds which by type assertion.
type Input interface {
	// Connect opens the input (files, sockets, subscriptions). A failing
	// Connect fails the run; an input that can reconnect on its own should
	// do so in its reads and report it through Health.
	Connect(ctx context.Context) error
	// Close releases what Connect opened. It is called once, also after a
	// failed Connect, after the engine's last read returned or while a read
	// is blocked (Close must then make it return). Acknowledgements of
	// batches still in flight are all called before Close.
	Close(ctx context.Context) error
}

// Batch is what a BatchReader returns: either Records, or Data that the
// input's codec frames into records (an HTTP body of lines or NDJSON).
type Batch struct {
	// Records are taken as they are (their Meta included); the engine still
	// applies the input's checks (max_record_bytes, ndjson validity,
	// validate_utf8, reject_nul) and numbers them.
	Records []*stage.Record
	// Data is framed by the input's codec when Records is nil; every record
	// framed from it gets a copy of Meta.
	Data []byte
	Meta map[string]string
}

// BatchReader is an input that yields batches of records.
type BatchReader interface {
	Input
	// ReadBatch blocks until a batch is available, ctx is done (it returns
	// ctx's error) or the input ends (ErrEndOfInput). ack is called once for
	// the returned batch (see AckFunc); it must not be nil when err is nil.
	// A batch with no records is acknowledged like any other. The engine
	// owns the batch's slices and maps until ack is called: the input must
	// not change or reuse them before.
	//
	// Any other error fails the run; an input that loses its connection
	// should reconnect and go on rather than return it.
	ReadBatch(ctx context.Context) (b Batch, ack AckFunc, err error)
}

// Stream is a sequence of bytes that the engine's codec frames into records:
// a file, a part of a followed file, stdin.
type Stream struct {
	// Name is shown in errors and logs (a file name); "" means stdin.
	Name string
	// Reader yields the stream's bytes (decompressed). The engine reads it
	// until io.EOF, an error (which fails the run), or the end of the run.
	// A followed file's reader returns io.EOF only at a record boundary
	// (after a newline), unless the file was rotated away or deleted: then
	// the last unterminated line is a record too.
	Reader io.Reader
	// Start is the position of the Reader's first byte in the input's own
	// coordinates (a checkpointed offset, after decompression); the
	// positions passed to Ack are Start plus the bytes consumed.
	Start int64
	// Ack, if not nil, is called exactly once for each batch the engine
	// framed from this stream, in order, with the position just after the
	// batch's last record (its newline included), and err as for AckFunc.
	// pos never decreases. nil means the input does not track delivery
	// (stdin): the engine then spends nothing on it.
	Ack func(ctx context.Context, pos int64, err error) error
	// Done, if not nil, is called when the engine stops reading the stream
	// (at io.EOF, on an error, or at the end of the run), before it asks
	// for the next one; the stream's acknowledgements may still follow.
	Done func() error
}

// StreamReader is an input of byte streams (stdin, files). It is the fast
// path: the engine reads a stream straight into its batch buffers and frames
// records there, without a copy or an allocation per record.
type StreamReader interface {
	Input
	// NextStream returns the next stream to read, blocking until there is
	// one (a followed glob waits for files), ctx is done (ctx's error) or
	// there are no more (ErrEndOfInput). The engine reads one stream at a
	// time, to its end, in the order they are returned.
	NextStream(ctx context.Context) (*Stream, error)
}

// Interruptible is implemented by a StreamReader whose streams' reads
// return promptly once the context given to NextStream is done (regular
// files; a followed file polls and checks it). Without it the engine
// assumes a read may block for ever (stdin, a pipe): it then reads on a
// goroutine it does not wait for at the end of the run, and Close must
// make a blocked read return.
type Interruptible interface {
	Interruptible() bool
}

// MappableReader is optionally implemented by a Stream's Reader that
// returns the bytes of a regular file as they are, from its current offset
// on (not decompressed, not followed). The engine may then map the file
// and take the bytes from memory instead of reading them (no copy into its
// buffers), calling Skip for what it took; it reads the rest (the end of
// the file, bytes appended since) with Read as usual. The file stays
// owned by the Reader: the engine neither closes it nor moves its offset.
type MappableReader interface {
	io.Reader
	// MapFile returns the file and the offset in it of the next byte Read
	// would return.
	MapFile() (f *os.File, off int64)
	// Skip moves the reader n bytes on, as reading them would have (the
	// next Read starts after them; progress and positions count them).
	Skip(n int64) error
}

// Progresser is optionally implemented by inputs of a known size (files,
// stdin redirected from a file): Progress returns the bytes read so far
// (before decompression) and the total (0 when unknown). It is safe for
// concurrent use; `pipe run --progress` shows it.
type Progresser interface {
	Progress() (read, total int64)
}

// Output is the part every output implements. It also implements exactly
// one way of writing: BatchWriter (records) or StreamWriter (bytes the
// engine's codec makes).
type Output interface {
	// Connect opens the output. A failing Connect fails the run (after the
	// output's retries when the error is transient).
	Connect(ctx context.Context) error
	// Close flushes and releases what Connect opened; it is called once,
	// also after a failed Connect. For a file output, Close makes the data
	// durable (fsync) before it returns.
	Close(ctx context.Context) error
}

// BatchWriter is an output that writes records.
type BatchWriter interface {
	Output
	// WriteBatch writes recs, in order. It returns nil only when every
	// record is delivered as the output's docs define it (the HTTP server
	// answered 2xx, the broker acknowledged the publish): the engine then
	// acknowledges the inputs they came from. Meta carries what the output
	// maps to message headers, keys or subjects (documented per output).
	//
	// An error is transient by default: the engine retries the whole batch
	// (duplicates at the destination are possible, as with any retry) with
	// the output's retry: policy, then applies its on_error. Wrap an error
	// with Permanent when retrying cannot help (an HTTP 400), and with
	// RetryAfter when the destination said when to come back (HTTP 429).
	//
	// The engine owns recs; WriteBatch must not keep them (or their Data)
	// after it returns. ctx is cancelled when the run aborts.
	WriteBatch(ctx context.Context, recs []*stage.Record) error
}

// StreamWriter is an output of bytes (stdout, files): the engine encodes the
// records with the output's codec and writes them, buffered, to Writer.
// Record metadata does not reach a stream output.
type StreamWriter interface {
	Output
	// Writer returns the destination, called once after Connect. The engine
	// buffers what it writes and flushes its buffer before it acknowledges
	// the batches written, so what a Write accepted must be delivered when
	// Write returns: an output that compresses or buffers flushes within
	// Write. A write error fails the run (a broken pipe, syscall.EPIPE,
	// ends it quietly, as for grep).
	Writer() io.Writer
	// Sync makes what was written durable (fsync for a file; nil for a pipe
	// or a terminal). The engine calls it before an input persists a
	// checkpoint that covers what was written (see Env.Sync).
	Sync(ctx context.Context) error
}

// Batcher is optionally implemented by BatchWriter outputs that send
// records in groups (one HTTP request, one produce call) and want those
// groups larger than the batches the pipeline moves: a slow input (a
// followed file, a trickle of HTTP posts) hands the output a batch of one
// record at a time. The engine then collects records across batches into
// groups that BatchPolicy bounds and calls WriteBatch once per group.
//
// The engine writes a group when the next record would not fit it, when
// it is full, when Linger has passed since its first record came, at the
// end of input and when the run drains after SIGINT/SIGTERM: no record is
// held past the end of a run. The acknowledgements of the input batches a
// group holds wait for its WriteBatch (retries and on_error included), so
// lingering delays acknowledgements (checkpoints, broker acks) by up to
// Linger. Order is kept: groups are written one at a time, in order.
type Batcher interface {
	// BatchPolicy returns the grouping; the engine reads it once, after
	// Connect.
	BatchPolicy() BatchPolicy
}

// BatchPolicy bounds the groups of records a Batcher's WriteBatch gets.
type BatchPolicy struct {
	// MaxRecords is the most records in one group; 0: no bound.
	MaxRecords int
	// MaxBytes is the most bytes in one group, counted as the sum of
	// len(Data)+1 of its records (a newline-joined body); a single record
	// larger than MaxBytes is a group of its own. 0: no bound.
	MaxBytes int64
	// Linger is how long a group's first record may wait for more records
	// before the group is written. 0: a group is written once the records
	// of the batch that filled it were added (no waiting across batches).
	Linger time.Duration
}

// Aborter is optionally implemented by outputs that can leave their
// destination as it was (a file output writing to a temporary file). When
// a run fails before its input read a record (a stage that does not load, a
// configuration error found at the start), the engine calls Abort instead
// of Close.
type Aborter interface {
	Abort(ctx context.Context) error
}

// DeliversOnClose is optionally implemented by stream outputs whose writes
// are delivered only when Close succeeds (a file written under a temporary
// name and renamed at the end). DeliversOnClose reports whether that is so
// for this output; the engine then acknowledges input batches only after
// Close returned nil, and says so at the start when the input tracks
// delivery (a followed input would never be acknowledged).
type DeliversOnClose interface {
	DeliversOnClose() bool
}

// Health is optionally implemented by inputs and outputs that can be
// disconnected while the run goes on: /readyz is false while Healthy
// returns an error.
type Health interface {
	Healthy() error
}

// PermanentError marks an output error that retrying cannot fix.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as permanent: the engine does not retry the batch and
// applies the output's on_error at once. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err (or an error it wraps) is a
// *PermanentError.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfterError is a transient output error whose destination said when to
// try again.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter marks err as transient with a wait of at least d before the
// next attempt (the engine waits max(d, its own backoff), within the
// retry policy's max, and never past the run's cancellation).
// RetryAfter(nil, d) is nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &RetryAfterError{Err: err, After: d}
}

// Env is what a constructor gets besides its config.
type Env struct {
	// Resolve returns a path of the config relative to the pipeline file's
	// directory (the path itself when absolute).
	Resolve func(path string) string
	// Logger carries the connector's name; log here, never to stdout.
	Logger *slog.Logger
	// Codec is how the input or output frames records: lines, ndjson or
	// raw (lines under the csv and logfmt codecs, whose lines the engine
	// decodes and encodes).
	Codec string
	// TextCodec is csv or logfmt when the engine decodes (input) or
	// encodes (output) each line of Codec under that text codec, "" for
	// any other codec. An output is then handed each record as its
	// encoded line, not as a JSON object: it has no JSON field to read.
	TextCodec string
	// Stdin and Stdout are the run's standard streams (what the embedding
	// program handed the engine); only stdio connectors use them. They are
	// nil when the pipeline is only being built (pipe lint).
	Stdin  io.Reader
	Stdout io.Writer
	// Sync makes the output's writes durable (StreamWriter.Sync). An input
	// that persists positions (a checkpoint file) calls it before it
	// persists a position covering acknowledged batches, so that a crash of
	// the machine cannot lose records that a checkpoint says were
	// delivered. It is never nil when a run calls the constructor.
	Sync func(ctx context.Context) error
	// Stats lets a connector report what the engine cannot see; it is
	// never nil when a run calls the constructor.
	Stats Stats
}

// Stats receives a connector's own counts and states, for --stats and the
// Prometheus metrics. Its methods are safe for concurrent use.
type Stats interface {
	// Event counts one named event (reconnects, rotations, ...).
	Event(name string)
	// Gauge sets a named value (the checkpointed offset, open files, ...).
	Gauge(name string, v float64)
}

// Example is a titled piece of a pipeline file showing a connector.
type Example struct {
	Title string
	YAML  string
}

// InputType registers an input: input: {type: NAME, ...}.
type InputType struct {
	Name    string
	Summary string // one line, shown by `pipe stages`
	Doc     string // longer description, Markdown
	// Config is the zero value of the struct New decodes the input's own
	// fields into (the fields the engine takes for every input, type:,
	// codec:, max_record_bytes:, on_error:, validate_utf8:, reject_nul:,
	// are not among them; path: is, and the engine hands it over also when
	// it was set on the command line with --input). Its
	// yaml/doc/default/enum/required/example tags make the input's
	// component spec (see package component). nil: the input takes no
	// fields of its own.
	Config   any
	Examples []Example
	// New decodes cfg (cfg.Decode(&c): strict, positions in errors) and
	// validates it without I/O. Errors should come from cfg.Errorf so they
	// read FILE:LINE:COL. The result must implement BatchReader or
	// StreamReader.
	New func(cfg stage.Config, env Env) (Input, error)
}

// OutputType registers an output: output: {type: NAME, ...}.
type OutputType struct {
	Name    string
	Summary string
	Doc     string
	// Config: as for InputType; the engine's own output fields (type:,
	// codec:, retry:, on_error:) are not among them (path: is, as
	// --output sets it).
	Config   any
	Examples []Example
	// New: as for InputType. The result must implement BatchWriter or
	// StreamWriter.
	New func(cfg stage.Config, env Env) (Output, error)
}
