// Package compress detects compressed input by its magic bytes and
// compresses output by file name, with klauspost/compress (gzip and zstd).
package compress

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

var (
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Reader returns a reader of r's bytes, decompressed when they start with
// the gzip or zstd magic bytes. Uncompressed data is read straight into the
// caller's buffers (no copy), and the first read does not wait for more
// bytes than r gives it, unless those could begin a magic number. Its
// errors do not name the stream: the engine names it (connector.Stream's
// Name) in front of a read error. Close releases the decompressor.
func Reader(r io.Reader) io.ReadCloser {
	return &sniffer{r: r}
}

type sniffer struct {
	r    io.Reader
	dec  io.Reader
	done func()
	seen bool
}

func (s *sniffer) Read(p []byte) (int, error) {
	if s.dec != nil {
		n, err := s.dec.Read(p)
		if err != nil && err != io.EOF {
			err = truncated(err)
		}
		return n, err
	}
	if s.seen || len(p) < len(zstdMagic) {
		s.seen = true // a reader too small to sniff with reads plain data
		return s.r.Read(p)
	}
	s.seen = true
	n, err := s.r.Read(p)
	// A short first read that could begin a magic number: read on until it
	// is decided.
	for err == nil && n < len(zstdMagic) && couldBeMagic(p[:n]) && n > 0 {
		var m int
		m, err = s.r.Read(p[n:len(zstdMagic)])
		n += m
	}
	if n == 0 {
		return n, err
	}
	var kind string
	switch {
	case bytes.HasPrefix(p[:n], gzipMagic) && n >= 2 && (n < 3 || p[2] == 8):
		kind = "gzip"
	case bytes.HasPrefix(p[:n], zstdMagic):
		kind = "zstd"
	default:
		return n, err
	}
	head := append([]byte(nil), p[:n]...)
	src := io.Reader(bytes.NewReader(head))
	if err == nil {
		src = io.MultiReader(src, s.r)
	} else if err != io.EOF {
		return 0, err
	}
	switch kind {
	case "gzip":
		zr, gerr := gzip.NewReader(src)
		if gerr != nil {
			return 0, truncated(gerr)
		}
		s.dec, s.done = zr, func() { zr.Close() }
	default:
		zr, zerr := zstd.NewReader(src, zstd.WithDecoderConcurrency(1))
		if zerr != nil {
			return 0, zerr
		}
		s.dec, s.done = zr, zr.Close
	}
	return s.Read(p)
}

func couldBeMagic(b []byte) bool {
	return bytes.HasPrefix(zstdMagic, b) || bytes.HasPrefix(gzipMagic, b[:min(len(b), 2)])
}

// ErrTruncated is the cause of a read error of compressed data that ends
// before its end marker (a .gz cut off by a crash or a partial copy).
var ErrTruncated = errors.New("compressed data is truncated")

func truncated(err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w (%v)", ErrTruncated, err)
	}
	return err
}

func (s *sniffer) Close() error {
	if s.done != nil {
		s.done()
	}
	return nil
}

// IsCompressed reports whether head, a stream's first bytes, starts with
// the gzip or zstd magic bytes.
func IsCompressed(head []byte) bool {
	return bytes.HasPrefix(head, gzipMagic) || bytes.HasPrefix(head, zstdMagic)
}

// Kind returns "gzip" or "zstd" when path names a compressed file (.gz,
// .zst, .zstd), "" otherwise.
func Kind(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".gz", ".gzip":
		return "gzip"
	case ".zst", ".zstd":
		return "zstd"
	}
	return ""
}

// Writer compresses to w with kind ("gzip" or "zstd"). Each Write is
// compressed and flushed to w before it returns (so that what was written
// is readable, and delivered, at once); Close writes the end of the
// stream (it does not close w).
func Writer(w io.Writer, kind string) (io.WriteCloser, error) {
	switch kind {
	case "gzip":
		return &flushing{w: gzip.NewWriter(w)}, nil
	case "zstd":
		zw, err := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return &flushing{w: zw}, nil
	}
	return nil, fmt.Errorf("unknown compression %q", kind)
}

type flushWriteCloser interface {
	io.WriteCloser
	Flush() error
}

type flushing struct{ w flushWriteCloser }

func (f *flushing) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	return n, f.w.Flush()
}

func (f *flushing) Close() error { return f.w.Close() }
