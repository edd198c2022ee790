package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connectors/internal/compress"
	"github.com/pipe-dev/pipe/internal/fsync"
	"github.com/pipe-dev/pipe/stage"
)

// OutputConfig are the file output's own fields.
type OutputConfig struct {
	Path   string `yaml:"path" required:"true" example:"out/errors.ndjson" doc:"File to write, relative to the pipeline file; a name ending in .gz or .zst is compressed (gzip, zstd)."`
	Append bool   `yaml:"append" default:"false" doc:"Append to the file, written in place as records come; implied when the input tracks delivery (a checkpoint, a broker), which resumes where delivery stopped. Without it the output goes to a temporary file beside path, renamed over it when the run ends (a run that fails before reading a record leaves path as it was)."`
}

// OutputType is the file output.
var OutputType = connector.OutputType{
	Name:    "file",
	Summary: "write records to a file (replaced when the run ends, or appended to); .gz and .zst are compressed",
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

	mu     sync.Mutex // a compressed file: writes and Sync
	f      *os.File
	zw     io.WriteCloser // nil: not compressed
	target string         // the file a temporary one is renamed over ("" when written in place)
}

// KeepEarlierRuns makes the output append, as with append: true. The engine
// calls it before Connect when the input resumes where delivery stopped (a
// checkpoint, a broker's acknowledgements): a file replaced at the end of
// each run would lose what earlier runs delivered.
func (o *Output) KeepEarlierRuns() { o.cfg.Append = true }

// Connect implements connector.Output: with append it opens the file for
// appending; otherwise it creates a temporary file beside it (same folder,
// so the final rename stays on one file system), renamed over it by Close.
// A path that is not a regular file (a device, a FIFO) is written in place.
func (o *Output) Connect(context.Context) error {
	if st, err := os.Stat(o.path); err == nil && st.IsDir() {
		return o.conf.Errorf("path", "output path %s is a directory", o.path)
	}
	f, target, err := createOutput(o.path, o.cfg.Append)
	if err != nil {
		return o.conf.Errorf("path", "cannot write output: %v", err)
	}
	o.f, o.target = f, target
	if kind := compress.Kind(o.path); kind != "" {
		zw, err := compress.Writer(f, kind)
		if err != nil {
			o.Abort(context.Background())
			return fmt.Errorf("%s: %w", o.path, err)
		}
		o.zw = zw
	}
	return nil
}

func createOutput(path string, appendTo bool) (f *os.File, target string, err error) {
	if appendTo {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		return f, "", err
	}
	target = path
	if t, err := filepath.EvalSymlinks(path); err == nil {
		target = t
	}
	mode := fs.FileMode(0o644)
	if st, err := os.Stat(target); err == nil {
		if !st.Mode().IsRegular() {
			f, err := os.OpenFile(target, os.O_WRONLY, 0)
			return f, "", err
		}
		mode = st.Mode().Perm()
	}
	f, err = os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".pipe-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) { // name the output, not the temporary file
			err = &fs.PathError{Op: "open", Path: path, Err: pe.Err}
		}
		return nil, "", err
	}
	_ = f.Chmod(mode) // as the file it replaces (CreateTemp makes 0600)
	return f, target, nil
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
	return fsync.File(o.f)
}

// Close implements connector.Output: it ends the compressed stream, syncs
// and closes the file, and renames a temporary file over the output path.
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
	errs = append(errs, fsync.File(o.f), o.f.Close())
	tmp := o.f.Name()
	o.f = nil
	err := errors.Join(errs...)
	if o.target != "" {
		if err == nil {
			err = os.Rename(tmp, o.target)
		}
		if err != nil {
			os.Remove(tmp)
		}
	}
	return err
}

// DeliversOnClose implements connector.DeliversOnClose: a file replaced
// at the end holds the records only once it is renamed.
func (o *Output) DeliversOnClose() bool { return o.target != "" }

// Abort implements connector.Aborter: a temporary file is removed and the
// output path left as it was (a file written in place stays as written).
func (o *Output) Abort(context.Context) error {
	if o.f == nil {
		return nil
	}
	err := o.f.Close()
	if o.target != "" {
		os.Remove(o.f.Name())
	}
	o.f = nil
	return err
}

var (
	_ connector.StreamWriter    = (*Output)(nil)
	_ connector.Aborter         = (*Output)(nil)
	_ connector.DeliversOnClose = (*Output)(nil)
)
