// Package stdio is the stdin input and the stdout output: the defaults of
// every pipeline.
//
// stdin is read as a stream that the input's codec frames; gzip or zstd
// data is detected by its magic bytes and decompressed (pipe run p.yaml <
// app.log.gz). It does not track delivery: a pipe cannot be re-read, so
// there is nothing to acknowledge to. stdout writes the encoded records;
// when its reader goes away (| head -1) the run ends quietly.
package stdio

import (
	"context"
	"io"
	"os"
	"sync/atomic"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connectors/internal/compress"
	"github.com/pipe-dev/pipe/connectors/internal/iox"
	"github.com/pipe-dev/pipe/stage"
)

// InputType is the stdin input.
var InputType = connector.InputType{
	Name:    "stdin",
	Summary: "read records from standard input (the default); gzip and zstd are detected and decompressed",
	Examples: []connector.Example{
		{Title: "JSON lines on stdin", YAML: "input: {type: stdin, codec: ndjson}"},
	},
	New: func(cfg stage.Config, env connector.Env) (connector.Input, error) {
		if err := cfg.Decode(&struct{}{}); err != nil {
			return nil, err
		}
		r := env.Stdin
		if r == nil {
			r = os.Stdin
		}
		return &Input{r: r}, nil
	},
}

// OutputType is the stdout output.
var OutputType = connector.OutputType{
	Name:    "stdout",
	Summary: "write records to standard output (the default)",
	New: func(cfg stage.Config, env connector.Env) (connector.Output, error) {
		if err := cfg.Decode(&struct{}{}); err != nil {
			return nil, err
		}
		w := env.Stdout
		if w == nil {
			w = os.Stdout
		}
		return &Output{w: w}, nil
	},
}

// Input reads one stream: stdin, or the reader the embedding program gave.
type Input struct {
	r           io.Reader
	given       bool
	read, total atomic.Int64
	counted     bool
}

// NewInput returns an input of r's bytes (for Pipeline.RunReader).
func NewInput(r io.Reader) *Input { return &Input{r: r} }

// Connect implements connector.Input: stdin redirected from a regular file
// has a known size, counted for Progress.
func (in *Input) Connect(context.Context) error {
	if f, ok := in.r.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			off, _ := f.Seek(0, io.SeekCurrent)
			in.total.Store(st.Size() - off)
			in.counted = true
		}
	}
	return nil
}

// NextStream implements connector.StreamReader: stdin once, then the end.
func (in *Input) NextStream(context.Context) (*connector.Stream, error) {
	if in.given {
		return nil, connector.ErrEndOfInput
	}
	in.given = true
	r := in.r
	if in.counted {
		r = iox.CountingReader{R: r, N: &in.read}
	}
	zr := compress.Reader(r)
	return &connector.Stream{Reader: zr, Done: zr.Close}, nil
}

// Progress implements connector.Progresser.
func (in *Input) Progress() (read, total int64) { return in.read.Load(), in.total.Load() }

// Close implements connector.Input. A read blocked on a terminal or a pipe
// is not ended by it (the engine does not wait for it).
func (in *Input) Close(context.Context) error { return nil }

// Output writes to stdout or the writer the embedding program gave.
type Output struct{ w io.Writer }

// NewOutput returns an output to w (for Pipeline.RunReader).
func NewOutput(w io.Writer) *Output { return &Output{w: w} }

// Connect implements connector.Output.
func (o *Output) Connect(context.Context) error { return nil }

// Writer implements connector.StreamWriter.
func (o *Output) Writer() io.Writer { return o.w }

// Sync implements connector.StreamWriter: a file stdout is fsynced; a pipe
// or a terminal has nothing to sync.
func (o *Output) Sync(context.Context) error {
	if f, ok := o.w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			return f.Sync()
		}
	}
	return nil
}

// Close implements connector.Output (stdout stays open).
func (o *Output) Close(ctx context.Context) error { return o.Sync(ctx) }

var (
	_ connector.StreamReader = (*Input)(nil)
	_ connector.Progresser   = (*Input)(nil)
	_ connector.StreamWriter = (*Output)(nil)
)
