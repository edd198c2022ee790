package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connectors/internal/compress"
	"github.com/pipe-dev/pipe/stage"
)

// OutputConfig are the file output's own fields.
type OutputConfig struct {
	Path   string `yaml:"path" required:"true" example:"out/errors.ndjson" doc:"File to write, relative to the pipeline file; a name ending in .gz or .zst is compressed (gzip, zstd)."`
	Append bool   `yaml:"append" default:"false" doc:"Append to the file instead of truncating it (what a followed, checkpointed input wants across restarts)."`
}

// OutputType is the file output.
var OutputType = connector.OutputType{
	Name:    "file",
	Summary: "write records to a file (created or truncated, or appended to); .gz and .zst are compressed",
	Doc: "What the engine writes is flushed to the file before the input records it came from are acknowledged, " +
		"and the file is fsynced before an input writes a checkpoint covering it. " +
		"A compressed file is flushed (a gzip or zstd block boundary) at every write, so it can be read while it grows; " +
		"appending to a compressed file adds a member (gzip) or frame (zstd), which readers decompress as one stream.",
	Config: OutputConfig{},
	Examples: []connector.Example{
		{Title: "write JSON lines", YAML: "output: {type: file, path: out/errors.ndjson, codec: ndjson}"},
		{Title: "compressed, appended across restarts", YAML: "output: {type: file, path: out/app.log.zst, append: true}"},
	},
	New: newOutput,
}

func newOutput(cfg stage.Config, env connector.Env) (connector.Output, error) {
	var c OutputConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if c.Path == "" {
		return nil, cfg.Errorf("path", "output type file needs a path")
	}
	path := c.Path
	if env.Resolve != nil {
		path = env.Resolve(path)
	}
	return &Output{cfg: c, conf: cfg, path: path}, nil
}

// Output is the file output.
type Output struct {
	cfg  OutputConfig
	conf stage.Config
	path string

	mu sync.Mutex // a compressed file: writes and Sync
	f  *os.File
	zw io.WriteCloser // nil: not compressed
}

// Connect implements connector.Output: it creates, truncates or opens the
// file for appending.
func (o *Output) Connect(context.Context) error {
	if st, err := os.Stat(o.path); err == nil && st.IsDir() {
		return o.conf.Errorf("path", "output path %s is a directory", o.path)
	}
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if o.cfg.Append {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	f, err := os.OpenFile(o.path, flags, 0o644)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return o.conf.Errorf("path", "cannot write output: directory %s does not exist", filepath.Dir(o.path))
		}
		return o.conf.Errorf("path", "cannot write output: %v", err)
	}
	o.f = f
	if kind := compress.Kind(o.path); kind != "" {
		zw, err := compress.Writer(f, kind)
		if err != nil {
			f.Close()
			return fmt.Errorf("%s: %w", o.path, err)
		}
		o.zw = zw
	}
	return nil
}

// Writer implements connector.StreamWriter.
func (o *Output) Writer() io.Writer {
	if o.zw == nil {
		return o.f // os.File: Write and Sync may run concurrently
	}
	return lockedWriter{o}
}

type lockedWriter struct{ o *Output }

func (w lockedWriter) Write(p []byte) (int, error) {
	w.o.mu.Lock()
	defer w.o.mu.Unlock()
	return w.o.zw.Write(p)
}

// Sync implements connector.StreamWriter: fsync.
func (o *Output) Sync(context.Context) error {
	if o.f == nil {
		return nil
	}
	if o.zw != nil {
		o.mu.Lock()
		defer o.mu.Unlock()
	}
	return o.f.Sync()
}

// Close implements connector.Output: it ends the compressed stream, syncs
// and closes the file.
func (o *Output) Close(context.Context) error {
	if o.f == nil {
		return nil
	}
	var errs []error
	if o.zw != nil {
		o.mu.Lock()
		errs = append(errs, o.zw.Close())
		o.mu.Unlock()
	}
	errs = append(errs, o.f.Sync(), o.f.Close())
	o.f = nil
	return errors.Join(errs...)
}

var _ connector.StreamWriter = (*Output)(nil)
