package engine

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
	"github.com/pipe-dev/pipe/engine/internal/codec"
)

// source produces input batches on out until the end of input, ctx (the
// caller's context: stop reading) is done, or the run fails.
type source interface {
	run(ctx context.Context, p *Pipeline, rs *runState, in *counters, out chan<- *batch) error
}

type namedReader struct {
	name string
	open func() (io.ReadCloser, error)
}

type readerSource struct{ readers []namedReader }

func (s *readerSource) run(ctx context.Context, p *Pipeline, rs *runState, c *counters, out chan<- *batch) error {
	spec := &p.spec.Input
	policy := firstNonEmpty(spec.OnError, p.spec.Defaults.OnError, OnErrorFail)
	maxBytes := int(spec.MaxRecordBytes)
	if maxBytes == 0 {
		maxBytes = int(p.spec.Defaults.MaxRecordBytes)
	}
	if maxBytes == 0 {
		maxBytes = int(DefaultMaxRecordBytes)
	}
	opt := codec.Options{Codec: firstNonEmpty(spec.Codec, CodecLines), MaxBytes: maxBytes,
		ValidateUTF8: spec.ValidateUTF8, RejectNUL: spec.RejectNUL}
	var num int64
	b := getBatch()
	send := func() bool {
		if len(b.recs) == 0 {
			return true
		}
		n := int64(len(b.recs))
		c.in.Add(n)
		c.passed.Add(n)
		c.out.Add(n)
		ok := rs.send(out, b, 0)
		b = getBatch()
		return ok
	}
	defer func() { putBatch(b) }()
	for _, nr := range s.readers {
		rc, err := nr.open()
		if err != nil {
			return &StageError{Stage: "input", Op: "read", Err: err}
		}
		cr := codec.NewReader(rc, opt)
		for {
			data, err := cr.Next()
			if err == io.EOF {
				break
			}
			num++
			if err != nil {
				c.in.Add(1)
				var re *codec.RecordError
				if !errors.As(err, &re) {
					rc.Close()
					return &StageError{Stage: "input", Op: "read", Err: fmt.Errorf("%s: %w", displayName(nr.name), err)}
				}
				num := num
				if ferr := inputFailed(rs, policy, maxBytes, c, nr.name, num, re); ferr != nil {
					send() // the records before the failing one go on
					rc.Close()
					return ferr
				}
			} else {
				if b.full(len(data)) && !send() {
					rc.Close()
					return nil
				}
				b.add(data, num)
			}
			if cr.Buffered() == 0 {
				// The next read may block: let what we have go on now.
				if !send() {
					rc.Close()
					return nil
				}
				select {
				case <-ctx.Done():
					rc.Close()
					return nil
				default:
				}
			}
		}
		if err := rc.Close(); err != nil {
			return &StageError{Stage: "input", Op: "read", Err: err}
		}
	}
	send()
	return nil
}

func displayName(n string) string {
	if n == "" {
		return "stdin"
	}
	return n
}

func inputFailed(rs *runState, policy string, maxBytes int, c *counters, name string, num int64, re *codec.RecordError) error {
	var cause error
	switch {
	case errors.Is(re, codec.ErrTooLarge):
		cause = fmt.Errorf("%w: %d bytes (max_record_bytes is %s)", ErrRecordTooLarge, re.Size, ByteSize(maxBytes))
	default:
		cause = fmt.Errorf("%w: %v", ErrInvalidRecord, re.Err)
	}
	if name != "" {
		cause = fmt.Errorf("%s: %w", name, cause)
	}
	c.errors.Add(1)
	rec := &Record{Data: re.Data, num: num}
	switch policy {
	case OnErrorDrop:
		return nil
	case OnErrorDeadLetter:
		if err := rs.dl.write("input", rec, cause); err != nil {
			return err
		}
		c.dead.Add(1)
		return nil
	}
	return &StageError{Stage: "input", Op: "read", Record: num, Err: cause}
}

// funcSource adapts a Source; records are batched with a short linger so
// that a slow source still streams.
type funcSource struct{ next Source }

const linger = 5 * time.Millisecond

func (s *funcSource) run(ctx context.Context, p *Pipeline, rs *runState, c *counters, out chan<- *batch) error {
	type item struct {
		rec *Record
		err error
	}
	ch := make(chan item, DefaultBatchRecords)
	go func() {
		defer close(ch)
		for {
			r, err := s.next(ctx)
			if err == io.EOF {
				return
			}
			select {
			case ch <- item{r, err}:
			case <-rs.ctx.Done():
				return
			case <-rs.stop(0):
				return
			}
			if err != nil {
				return
			}
		}
	}()
	var num int64
	b := getBatch()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	send := func() bool {
		if len(b.recs) == 0 {
			return true
		}
		ok := rs.send(out, b, 0)
		b = getBatch()
		return ok
	}
	for {
		var it item
		var ok bool
		if len(b.recs) > 0 {
			timer.Reset(linger)
			select {
			case it, ok = <-ch:
			case <-timer.C:
				if !send() {
					return nil
				}
				continue
			case <-ctx.Done():
				send()
				return nil
			}
		} else {
			select {
			case it, ok = <-ch:
			case <-ctx.Done():
				return nil
			}
		}
		if !ok {
			send()
			return nil
		}
		if it.err != nil {
			send()
			return &StageError{Stage: "input", Op: "read", Err: it.err}
		}
		if it.rec == nil {
			continue
		}
		num++
		if it.rec.num == 0 {
			it.rec.num = num
		}
		c.in.Add(1)
		c.passed.Add(1)
		c.out.Add(1)
		b.recs = append(b.recs, it.rec)
		if len(b.recs) >= DefaultBatchRecords && !send() {
			return nil
		}
	}
}

// sink consumes output batches in order.
type sink interface {
	write(rs *runState, c *counters, b *batch, more bool) error
	flush() error
}

// errOutputClosed stops a run whose reader went away (| head -1): like grep,
// pipe then exits quietly with status 0.
var errOutputClosed = errors.New("output closed")

// IsOutputClosed reports whether err means the output's reader went away
// (a broken pipe): a quiet, successful end for a command-line filter.
func IsOutputClosed(err error) bool { return errors.Is(err, errOutputClosed) }

type writerSink struct {
	w        io.Writer
	bw       *bufio.Writer
	codec    string
	validate bool
	policy   string
	compact  bytes.Buffer
}

func (s *writerSink) write(rs *runState, c *counters, b *batch, more bool) error {
	if s.bw == nil {
		s.bw = bufio.NewWriterSize(s.w, 256<<10)
	}
	c.in.Add(int64(len(b.recs)))
	var written int64
	for _, r := range b.recs {
		data := r.Data
		if s.validate {
			if !codec.ValidJSON(data) {
				if err := s.invalid(rs, c, r); err != nil {
					return err
				}
				continue
			}
			if bytes.IndexByte(data, '\n') >= 0 {
				s.compact.Reset()
				_ = json.Compact(&s.compact, data)
				data = s.compact.Bytes()
			}
		}
		s.bw.Write(data)
		if s.codec != CodecRaw {
			s.bw.WriteByte('\n')
		}
		written++
	}
	c.passed.Add(written)
	c.out.Add(written)
	if !more {
		return s.flush()
	}
	return nil
}

func (s *writerSink) invalid(rs *runState, c *counters, r *Record) error {
	c.errors.Add(1)
	cause := fmt.Errorf("%w: not one JSON value (output codec is ndjson)", ErrInvalidRecord)
	switch s.policy {
	case OnErrorDrop:
		return nil
	case OnErrorDeadLetter:
		if err := rs.dl.write("output", r, cause); err != nil {
			return err
		}
		c.dead.Add(1)
		return nil
	}
	return &StageError{Stage: "output", Op: "write", Record: r.num, Err: cause}
}

func (s *writerSink) flush() error {
	if s.bw == nil {
		return nil
	}
	if err := s.bw.Flush(); err != nil {
		if isBrokenPipe(err) {
			return errOutputClosed
		}
		return &StageError{Stage: "output", Op: "write", Err: err}
	}
	return nil
}

type funcSink struct{ fn Sink }

func (s *funcSink) write(rs *runState, c *counters, b *batch, more bool) error {
	c.in.Add(int64(len(b.recs)))
	for _, r := range b.recs {
		if err := s.fn(r); err != nil {
			return &StageError{Stage: "output", Op: "write", Record: r.num, Err: err}
		}
		c.passed.Add(1)
		c.out.Add(1)
	}
	return nil
}

func (s *funcSink) flush() error { return nil }

// deadLetter writes failed records as JSON lines.
type deadLetter struct {
	mu   sync.Mutex
	f    *os.File
	path string
}

type deadLetterLine struct {
	Time         string            `json:"time"`
	Stage        string            `json:"stage"`
	RecordNumber int64             `json:"record_number,omitempty"`
	Error        string            `json:"error"`
	Record       *string           `json:"record,omitempty"`
	RecordBase64 string            `json:"record_base64,omitempty"`
	Meta         map[string]string `json:"meta,omitempty"`
}

func (d *deadLetter) write(stage string, rec *Record, cause error) error {
	if d == nil {
		return &StageError{Stage: stage, Op: "dead_letter", Err: errors.New("on_error: dead_letter needs a dead_letter: path in the pipeline")}
	}
	line := deadLetterLine{Time: time.Now().UTC().Format(time.RFC3339Nano), Stage: stage, Error: cause.Error()}
	if rec != nil {
		line.RecordNumber = rec.num
		line.Meta = rec.Meta
		if utf8.Valid(rec.Data) {
			s := string(rec.Data)
			line.Record = &s
		} else {
			line.RecordBase64 = base64.StdEncoding.EncodeToString(rec.Data)
		}
	}
	buf, err := json.Marshal(line)
	if err != nil {
		return err
	}
	buf = append(buf, '\n')
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.f.Write(buf); err != nil {
		return &StageError{Stage: stage, Op: "dead_letter", Err: fmt.Errorf("write %s: %w", d.path, err)}
	}
	return nil
}

func (d *deadLetter) close() error {
	if d == nil {
		return nil
	}
	return d.f.Close()
}

// openInput returns the configured input as a source.
func (p *Pipeline) openInput(stdin io.Reader) (source, error) {
	spec := p.spec
	if spec.Input.Type != "file" {
		if stdin == nil {
			stdin = os.Stdin
		}
		return &readerSource{readers: []namedReader{{open: func() (io.ReadCloser, error) { return io.NopCloser(stdin), nil }}}}, nil
	}
	files, err := spec.inputFiles()
	if err != nil {
		return nil, err
	}
	var rs []namedReader
	for _, f := range files {
		if st, err := os.Stat(f); err != nil {
			return nil, errAtField(spec.Input.src, spec.File, "path", "input %s: %v", f, err)
		} else if st.IsDir() {
			continue
		}
		fh, err := os.Open(f)
		if err != nil {
			return nil, errAtField(spec.Input.src, spec.File, "path", "cannot read input: %v", err)
		}
		fh.Close()
		rs = append(rs, namedReader{name: f, open: func() (io.ReadCloser, error) { return openMaybeCompressed(f) }})
	}
	if len(rs) == 0 {
		return nil, errAtField(spec.Input.src, spec.File, "path", "input %q matches no file", spec.Input.Path)
	}
	return &readerSource{readers: rs}, nil
}

type multiCloser struct {
	io.Reader
	closers []func() error
}

func (m *multiCloser) Close() error {
	var errs []error
	for _, c := range m.closers {
		errs = append(errs, c())
	}
	return errors.Join(errs...)
}

func openMaybeCompressed(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".gz":
		zr, err := gzip.NewReader(bufio.NewReaderSize(f, 64<<10))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &multiCloser{Reader: zr, closers: []func() error{zr.Close, f.Close}}, nil
	case ".zst", ".zstd":
		zr, err := zstd.NewReader(f, zstd.WithDecoderConcurrency(1))
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &multiCloser{Reader: zr, closers: []func() error{func() error { zr.Close(); return nil }, f.Close}}, nil
	}
	return f, nil
}

// openOutput returns the configured output writer and its closer.
func (p *Pipeline) openOutput(stdout io.Writer) (io.Writer, func() error, error) {
	spec := p.spec
	if spec.Output.Type != "file" {
		if stdout == nil {
			stdout = os.Stdout
		}
		return stdout, func() error { return nil }, nil
	}
	path := resolvePath(spec.File, spec.Output.Path)
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, errAtField(spec.Output.src, spec.File, "path", "cannot write output: %v", err)
	}
	return f, f.Close, nil
}
