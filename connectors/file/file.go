// Package file is the file input and the file output.
//
// The input reads the files matching a glob, in sorted order, or follows
// them like tail -F (follow: true): new lines, new files matching the glob,
// rotation by rename (the old file is finished, then the new one is read)
// and by truncation, files deleted while open. With checkpoint: PATH it
// stores, per file, the position up to which records were delivered
// (acknowledged by the engine), and a restart resumes there. gzip and zstd
// files are detected by their first bytes and decompressed.
//
// The output writes (or appends to) one file; a path ending in .gz or .zst
// is compressed.
package file

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connectors/internal/compress"
	"github.com/pipe-dev/pipe/connectors/internal/iox"
	"github.com/pipe-dev/pipe/stage"
)

// InputConfig are the file input's own fields.
type InputConfig struct {
	Path                string        `yaml:"path" required:"true" example:"logs/*.ndjson.gz" doc:"File name or glob, relative to the pipeline file; gzip and zstd files are decompressed (detected by their first bytes)."`
	Follow              bool          `yaml:"follow" default:"false" doc:"Keep reading like tail -F: appended lines, new files matching the glob, rotation by rename or truncation; the input never ends."`
	Checkpoint          string        `yaml:"checkpoint" example:"state/app.checkpoint" doc:"File storing, per input file, the position up to which records were delivered; a restart resumes there (relative to the pipeline file)."`
	CheckpointOnCorrupt string        `yaml:"checkpoint_on_corrupt" enum:"fail,restart" default:"fail" doc:"A checkpoint file that cannot be read: fail (exit 2) or restart (read every file from its start)."`
	CheckpointInterval  time.Duration `yaml:"checkpoint_interval" default:"1s" doc:"Least time between two checkpoint writes while records are delivered (0: as often as the disk allows); the checkpoint is also written at the end of the run."`
	PollInterval        time.Duration `yaml:"poll_interval" default:"250ms" doc:"With follow: how often the glob and the files are checked when there is nothing to read."`
}

// InputType is the file input.
var InputType = connector.InputType{
	Name:    "file",
	Summary: "read records from files matching a glob, or follow them like tail -F, with checkpoints; gzip and zstd are decompressed",
	Doc: "Without `follow`, the files matching `path` are read once, in sorted order, and the input ends. " +
		"With `follow: true` the input never ends: it reads what is appended, picks up new files matching the glob, " +
		"finishes a file rotated away by rename before it reads the new one, starts over at a file truncated below its read position, " +
		"and finishes a file deleted while open. A glob that matches nothing waits for files (and says so once). " +
		"Files are read from their start; a checkpoint makes a restart resume where delivery stopped.\n\n" +
		"`checkpoint` stores per file its device, inode, a fingerprint of its first bytes and the delivered offset, " +
		"written atomically (temporary file, fsync, rename) after the output flushed and fsynced what it covers. " +
		"Records delivered after the last checkpoint write are read again after a crash: delivery is at least once.",
	Config: InputConfig{},
	Examples: []connector.Example{
		{Title: "every log of a directory", YAML: "input: {type: file, path: logs/*.ndjson.gz, codec: ndjson, max_record_bytes: 4MiB}"},
		{Title: "follow a log across rotations and restarts", YAML: "input: {type: file, path: /var/log/app.log, follow: true, checkpoint: app.checkpoint}"},
	},
	New: newInput,
}

func newInput(cfg stage.Config, env connector.Env) (connector.Input, error) {
	var c InputConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if c.Path == "" {
		return nil, cfg.Errorf("path", "input type file needs a path (a file name or glob)")
	}
	resolve := env.Resolve
	if resolve == nil {
		resolve = func(p string) string { return p }
	}
	pattern := resolve(c.Path)
	if _, err := filepath.Match(pattern, ""); err != nil {
		return nil, cfg.Errorf("path", "invalid glob %q: %v", c.Path, err)
	}
	if c.CheckpointInterval < 0 || c.PollInterval < 0 {
		return nil, cfg.Errorf("checkpoint_interval", "intervals must not be negative")
	}
	if c.PollInterval == 0 {
		c.PollInterval = 250 * time.Millisecond
	}
	in := &Input{cfg: c, conf: cfg, pattern: pattern, env: env, log: env.Logger, byID: map[fileID]*tracked{}}
	if c.Checkpoint != "" {
		in.ckptPath = resolve(c.Checkpoint)
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	return in, nil
}

// Input is the file input.
type Input struct {
	cfg      InputConfig
	conf     stage.Config
	pattern  string
	ckptPath string
	env      connector.Env
	log      *slog.Logger

	// files are the tracked files in the order they were found: changed
	// by the reader under mu, read by it without (the checkpoint reads
	// them under mu).
	files     []*tracked
	byID      map[fileID]*tracked
	pending   []string // without follow: the files not read yet
	waiting   bool     // said that the glob matches nothing
	connected bool     // the checkpoint was loaded: Close may write it
	lastScan  time.Time

	mu       sync.Mutex // guards the acknowledged offsets and the checkpoint
	saved    map[fileID]checkpoint
	lastSave time.Time // the checkpointer's
	dirty    bool

	saveReq              chan struct{} // asks the checkpointer for a write
	saverStop, saverDone chan struct{}

	read, total atomic.Int64
}

type fileID struct{ dev, ino uint64 }

// tracked is one input file (one inode).
type tracked struct {
	id      fileID
	path    string
	f       *os.File
	zipped  bool
	readPos int64 // the next position to read (in the decompressed stream)
	acked   int64 // the delivered position (Input.mu)
	epoch   int   // bumped at truncation: older acknowledgements are stale
	fp      string
	fpLen   int64
	gone    bool  // the glob no longer matches it (rotated away, deleted)
	stuck   int64 // the size at which only an unfinished line was left
	idle    int   // scans since it went that found it at its end
	done    bool
}

const fingerprintBytes = 1024

// Connect implements connector.Input: it loads the checkpoint and checks
// the path.
func (in *Input) Connect(ctx context.Context) error {
	if in.ckptPath != "" {
		cps, err := loadCheckpoint(in.ckptPath)
		var ce *CorruptError
		switch {
		case errors.As(err, &ce) && in.cfg.CheckpointOnCorrupt == "restart":
			in.log.Warn("checkpoint file is corrupt; reading every file from its start (checkpoint_on_corrupt: restart)", "checkpoint", in.ckptPath, "err", ce.Err)
		case errors.As(err, &ce):
			return &stage.ConfigError{File: in.ckptPath, Msg: fmt.Sprintf("corrupt checkpoint: %v (delete the file to start over, or set checkpoint_on_corrupt: restart)", ce.Err), Err: ce}
		case err != nil:
			return err
		}
		in.saved = map[fileID]checkpoint{}
		for _, c := range cps {
			in.saved[fileID{c.Dev, c.Ino}] = c
		}
		in.saveReq, in.saverStop, in.saverDone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
		in.lastSave = time.Now() // the first write comes one interval after the start
		go in.checkpointer()
	}
	if st, err := os.Stat(in.pattern); err == nil && st.IsDir() {
		return in.conf.Errorf("path", "input path %s is a directory (use a glob such as %s)", in.pattern, filepath.Join(in.pattern, "*"))
	}
	in.connected = true
	if !in.cfg.Follow {
		matches, err := in.glob()
		if err != nil {
			return err
		}
		if len(matches) == 0 {
			return in.conf.Errorf("path", "input %q matches no file", in.cfg.Path)
		}
		var total int64
		for _, m := range matches {
			f, err := os.Open(m)
			if err != nil {
				return in.conf.Errorf("path", "cannot read input: %v", err)
			}
			if st, err := f.Stat(); err == nil {
				total += st.Size()
			}
			f.Close()
		}
		in.total.Store(total)
		in.pending = matches
	}
	return nil
}

// glob returns the regular files matching the pattern, sorted.
func (in *Input) glob() ([]string, error) {
	matches, err := filepath.Glob(in.pattern)
	if err != nil {
		return nil, in.conf.Errorf("path", "invalid glob %q: %v", in.cfg.Path, err)
	}
	out := matches[:0]
	for _, m := range matches {
		if st, err := os.Stat(m); err == nil && st.Mode().IsRegular() {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Interruptible implements connector.Interruptible: reads of regular files
// do not block, and a followed file is polled.
func (in *Input) Interruptible() bool { return true }

// TracksDelivery tells the engine whether acknowledgements are wanted:
// only with a checkpoint.
func (in *Input) TracksDelivery() bool { return in.ckptPath != "" }

// Progress implements connector.Progresser.
func (in *Input) Progress() (read, total int64) { return in.read.Load(), in.total.Load() }

// NextStream implements connector.StreamReader.
func (in *Input) NextStream(ctx context.Context) (*connector.Stream, error) {
	if !in.cfg.Follow {
		if len(in.pending) == 0 {
			return nil, connector.ErrEndOfInput
		}
		path := in.pending[0]
		in.pending = in.pending[1:]
		t, err := in.open(path)
		if err != nil {
			return nil, err
		}
		t.done = true // read once, to the end
		return in.stream(ctx, t)
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		scanned := false
		if time.Since(in.lastScan) >= in.cfg.PollInterval || len(in.files) == 0 {
			if err := in.scan(); err != nil {
				return nil, err
			}
			scanned = true
		}
		for _, t := range in.files {
			if t.done {
				continue
			}
			if t.zipped {
				t.done = true // an archive is read once, whole
				return in.stream(ctx, t)
			}
			st, err := t.f.Stat()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", t.path, bare(err))
			}
			size := st.Size()
			if size < t.readPos || in.rewritten(t, size) { // truncated: start over
				in.log.Info("file truncated; reading it from its start", "file", t.path, "size", size, "position", t.readPos)
				in.mu.Lock()
				t.readPos, t.acked, t.epoch = 0, 0, t.epoch+1
				t.fp, t.fpLen = fingerprint(t.f, 0)
				in.dirty = true
				in.mu.Unlock()
				in.event("file_truncated")
			}
			if size > t.readPos && (size != t.stuck || t.gone) {
				t.idle = 0
				return in.stream(ctx, t)
			}
			if t.gone && scanned {
				// Finished when two scans since it went found nothing more
				// (counted in scans, not in calls: a call that only hands
				// out another file's stream proves nothing about this one).
				if t.idle++; t.idle >= 2 {
					in.finish(t)
				}
			}
		}
		in.mu.Lock()
		in.files = slices.DeleteFunc(in.files, func(t *tracked) bool { return t.done && t.f == nil && t.gone })
		in.mu.Unlock()
		timer := time.NewTimer(in.cfg.PollInterval)
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

// rewritten reports whether t's first bytes changed: truncated and written
// again (copytruncate) before a poll saw it shorter.
func (in *Input) rewritten(t *tracked, size int64) bool {
	in.mu.Lock() // the checkpoint may extend the fingerprint
	want, n := t.fp, t.fpLen
	in.mu.Unlock()
	if n == 0 || t.readPos == 0 {
		return false
	}
	if size < n {
		return true
	}
	fp, _ := fingerprint(t.f, n)
	return fp != want
}

// testHookAfterGlob, when set (by tests), runs after each scan's listing
// of the directory and before the files listed are looked at.
var testHookAfterGlob func()

// scan finds new files matching the glob and marks those that went.
func (in *Input) scan() error {
	in.lastScan = time.Now()
	seen := map[fileID]bool{}
	if err := in.scanOnce(seen); err != nil {
		return err
	}
	unseen := func(t *tracked) bool { return !t.done && !t.gone && !seen[t.id] }
	if slices.ContainsFunc(in.files, unseen) {
		// A file renamed between the listing and the look at a name (a
		// rotation: app.log renamed app.log.1, a new app.log created) is
		// in neither: the listing had only its old name, which now names
		// the new file. A second listing, made after the rename, has it.
		if err := in.scanOnce(seen); err != nil {
			return err
		}
	}
	for _, t := range in.files {
		if unseen(t) {
			t.gone, t.idle = true, 0
			in.log.Info("file rotated away or deleted; finishing it", "file", t.path)
			in.event("file_rotated")
		}
	}
	return nil
}

// scanOnce lists the files matching the glob, adds their identities to
// seen, follows renames of tracked files and starts tracking new ones.
func (in *Input) scanOnce(seen map[fileID]bool) error {
	matches, err := in.glob()
	if err != nil {
		return err
	}
	if testHookAfterGlob != nil {
		testHookAfterGlob()
	}
	if len(matches) == 0 && len(in.files) == 0 && !in.waiting {
		in.waiting = true
		in.log.Warn("no file matches the input path yet; waiting for one", "path", in.pattern)
	}
	for _, m := range matches {
		st, err := os.Stat(m)
		if err != nil {
			continue // went between the glob and the stat
		}
		id := idOf(st)
		seen[id] = true
		if t := in.byID[id]; t != nil {
			if t.path != m {
				in.log.Info("file renamed", "from", t.path, "to", m)
				in.mu.Lock()
				t.path = m
				in.mu.Unlock()
			}
			t.gone = false
			continue
		}
		t, err := in.open(m)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return err
		}
		seen[t.id] = true // renamed between the stat and the open: the file opened
		in.waiting = false
	}
	return nil
}

// open starts tracking path: at its checkpointed position when the
// checkpoint knows it (same device, inode and first bytes).
func (in *Input) open(path string) (*tracked, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open input: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open input: %w", err)
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("input %s is a directory", path)
	}
	t := &tracked{id: idOf(st), path: path, f: f}
	if old := in.byID[t.id]; old != nil && in.cfg.Follow {
		// Renamed between the scan's look at the name and the open: the
		// name now holds a file followed already.
		f.Close()
		return old, nil
	}
	var magic [4]byte
	n, _ := f.ReadAt(magic[:], 0)
	t.zipped = compress.IsCompressed(magic[:n])
	if kind := compress.Kind(path); kind != "" && !t.zipped && st.Size() > 0 {
		f.Close()
		return nil, fmt.Errorf("%s: not %s data (the name says it is compressed)", path, kind)
	}
	in.mu.Lock()
	if c, ok := in.saved[t.id]; ok {
		if fp, _ := fingerprint(f, c.FPLen); fp == c.Fingerprint && c.FPLen <= st.Size() {
			t.readPos, t.acked = c.Offset, c.Offset
			if !t.zipped && c.Offset > st.Size() {
				// Truncated while pipe was not running: start over.
				t.readPos, t.acked = 0, 0
			}
			in.log.Debug("resuming at the checkpoint", "file", path, "offset", t.readPos)
		} else {
			in.log.Info("checkpointed inode now holds another file; reading it from its start", "file", path)
		}
		delete(in.saved, t.id)
	}
	t.fp, t.fpLen = fingerprint(f, fingerprintBytes)
	in.files = append(in.files, t)
	in.mu.Unlock()
	in.byID[t.id] = t
	return t, nil
}

// stream returns the stream of t from its read position.
func (in *Input) stream(ctx context.Context, t *tracked) (*connector.Stream, error) {
	start := t.readPos
	var r io.Reader
	var done func() error
	if t.zipped {
		if _, err := t.f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("%s: %w", t.path, bare(err))
		}
		zr := compress.Reader(iox.CountingReader{R: t.f, N: &in.read})
		if start > 0 {
			if _, err := io.CopyN(io.Discard, zr, start); err != nil && err != io.EOF {
				zr.Close()
				return nil, fmt.Errorf("%s: skip to the checkpoint: %w", t.path, err)
			}
		}
		r = &positionReader{r: zr, t: t}
		done = func() error { zr.Close(); return in.finishRead(t) }
	} else {
		if _, err := t.f.Seek(start, io.SeekStart); err != nil {
			return nil, fmt.Errorf("%s: %w", t.path, bare(err))
		}
		if in.cfg.Follow {
			r = &followReader{in: in, t: t, ctx: ctx, budget: streamBudget}
		} else {
			r = &fileReader{positionReader{r: iox.CountingReader{R: t.f, N: &in.read}, t: t}, in}
		}
		done = func() error { return in.finishRead(t) }
	}
	st := &connector.Stream{Name: t.path, Reader: r, Start: start, Done: done}
	if in.ckptPath != "" {
		epoch := t.epoch
		st.Ack = func(ctx context.Context, pos int64, err error) error {
			if err != nil {
				return nil // not delivered: the position stays
			}
			return in.ack(ctx, t, epoch, pos)
		}
	}
	return st, nil
}

// finishRead closes a file read for the last time.
func (in *Input) finishRead(t *tracked) error {
	if t.done && t.f != nil {
		in.mu.Lock()
		f := t.f
		t.f = nil
		in.mu.Unlock()
		return f.Close()
	}
	return nil
}

// finish stops following a file that went.
func (in *Input) finish(t *tracked) {
	t.done = true
	in.mu.Lock()
	f := t.f
	t.f = nil
	in.mu.Unlock()
	if f != nil {
		f.Close()
	}
	delete(in.byID, t.id) // the inode may be reused
	in.log.Info("finished a rotated or deleted file", "file", t.path)
}

// event counts a named event in the run's stats.
func (in *Input) event(name string) {
	if in.env.Stats != nil {
		in.env.Stats.Event(name)
	}
}

// streamBudget is how much of one followed file is read before the other
// files get their turn.
const streamBudget = 4 << 20

// ack records a delivered position and asks the checkpoint writer to
// write it; it never waits for the disk.
func (in *Input) ack(_ context.Context, t *tracked, epoch int, pos int64) error {
	in.mu.Lock()
	if epoch != t.epoch || pos < t.acked {
		in.mu.Unlock()
		return nil
	}
	t.acked = pos
	in.dirty = true
	in.mu.Unlock()
	select {
	case in.saveReq <- struct{}{}:
	default: // a write is asked for already: it takes this position too
	}
	return nil
}

// checkpointer writes the checkpoint when asked, at most once per
// checkpoint_interval, one write at a time: positions acknowledged while a
// write is under way go into the next one.
func (in *Input) checkpointer() {
	defer close(in.saverDone)
	var timer *time.Timer
	for {
		select {
		case <-in.saveReq:
		case <-in.saverStop:
			return
		}
		if wait := in.cfg.CheckpointInterval - time.Since(in.lastSave); wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
			case <-in.saverStop:
				return
			}
		}
		if err := in.save(context.Background()); err != nil {
			in.event("checkpoint_failed")
			in.log.Error("writing the checkpoint failed; records delivered since the last one may be read again after a restart", "checkpoint", in.ckptPath, "err", err)
		}
	}
}

// save writes the checkpoint: the positions are taken first, then the
// output is synced (so that what they say was delivered is on disk), then
// the checkpoint is written.
func (in *Input) save(ctx context.Context) error {
	in.mu.Lock()
	if !in.dirty {
		in.mu.Unlock()
		return nil
	}
	var cps []checkpoint
	for _, c := range in.saved { // files not seen in this run: kept
		cps = append(cps, c)
	}
	for _, t := range in.files {
		if t.fpLen < fingerprintBytes && t.f != nil {
			// The file was short: cover more of it now (pread: the
			// reader's offset does not move).
			if fp, n := fingerprint(t.f, fingerprintBytes); n > t.fpLen {
				t.fp, t.fpLen = fp, n
			}
		}
		cps = append(cps, checkpoint{Path: t.path, Dev: t.id.dev, Ino: t.id.ino, Fingerprint: t.fp, FPLen: t.fpLen, Offset: t.acked})
	}
	in.dirty = false
	in.mu.Unlock()
	err := error(nil)
	if in.env.Sync != nil {
		if err = in.env.Sync(ctx); err != nil {
			err = fmt.Errorf("sync the output before the checkpoint: %w", err)
		}
	}
	if err == nil {
		err = saveCheckpoint(in.ckptPath, cps)
	}
	if err != nil {
		in.mu.Lock()
		in.dirty = true
		in.mu.Unlock()
		return err
	}
	in.lastSave = time.Now()
	in.event("checkpoint_written")
	return nil
}

// Close implements connector.Input: it writes the final checkpoint (every
// acknowledgement came before Close) and closes the files.
func (in *Input) Close(ctx context.Context) error {
	var err error
	if in.saverStop != nil {
		close(in.saverStop)
		<-in.saverDone
	}
	if in.ckptPath != "" && in.connected {
		in.mu.Lock()
		in.dirty = true
		in.mu.Unlock()
		err = in.save(ctx)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, t := range in.files {
		if t.f != nil {
			t.f.Close()
			t.f = nil
		}
	}
	return err
}

func idOf(st os.FileInfo) fileID {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return fileID{dev: uint64(s.Dev), ino: uint64(s.Ino)}
	}
	return fileID{}
}

// fingerprint returns the hex SHA-256 of f's first n bytes (fewer when f is
// shorter) and how many bytes it covers.
func fingerprint(f *os.File, n int64) (string, int64) {
	buf := make([]byte, n)
	m, _ := f.ReadAt(buf, 0)
	sum := sha256.Sum256(buf[:m])
	return hex.EncodeToString(sum[:]), int64(m)
}

// bare drops the file name from err, an error of an *os.File call (an
// *fs.PathError names the file by the path it was opened with): the
// caller names the file once, by the name the user gave (a stream's read
// errors are named by the engine, from connector.Stream's Name).
func bare(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// positionReader keeps t.readPos as the engine reads.
type positionReader struct {
	r io.Reader
	t *tracked
}

func (p *positionReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.t.readPos += int64(n)
	return n, err
}

// fileReader reads a file that is neither compressed nor followed; the
// engine may map it instead of reading it (connector.MappableReader).
type fileReader struct {
	positionReader
	in *Input
}

func (r *fileReader) MapFile() (*os.File, int64) { return r.t.f, r.t.readPos }

func (r *fileReader) Skip(n int64) error {
	if _, err := r.t.f.Seek(n, io.SeekCurrent); err != nil {
		return bare(err)
	}
	r.t.readPos += n
	r.in.read.Add(n)
	return nil
}

// followReader reads a followed file up to its current end, returning
// io.EOF only after a newline (the writer may be in the middle of a line),
// unless the file went (rotated away or deleted): then its last line is
// returned too. After budget bytes it ends at the next newline so that
// other files get their turn.
type followReader struct {
	in      *Input
	t       *tracked
	ctx     context.Context
	budget  int64
	partial bool // the last byte returned was not a newline
}

func (r *followReader) Read(p []byte) (int, error) {
	t := r.t
	for {
		if !r.partial && r.budget <= 0 {
			return 0, io.EOF
		}
		n, err := t.f.Read(p)
		if err != nil && err != io.EOF {
			return n, bare(err)
		}
		r.in.read.Add(int64(n))
		if n > 0 {
			i := bytes.LastIndexByte(p[:n], '\n')
			switch {
			case i == n-1:
				r.partial = false
			case i >= 0 && !t.gone:
				// Give back the unfinished line: it is read again whole.
				if _, err := t.f.Seek(int64(i+1-n), io.SeekCurrent); err != nil {
					return 0, bare(err)
				}
				n = i + 1
				r.partial = false
			case i < 0 && n < len(p) && !r.partial && !t.gone:
				// Only the start of a line: wait for the rest.
				if _, err := t.f.Seek(int64(-n), io.SeekCurrent); err != nil {
					return 0, bare(err)
				}
				n = 0
			default: // a long line, or the last line of a file that went
				r.partial = p[n-1] != '\n'
			}
			if n > 0 {
				t.readPos += int64(n)
				r.budget -= int64(n)
				return n, nil
			}
		}
		// At the end of what was written.
		if !r.partial {
			t.stuck = 0
			if st, err := t.f.Stat(); err == nil && st.Size() > t.readPos {
				t.stuck = st.Size() // an unfinished line: wait until it grows
			}
			return 0, io.EOF
		}
		if t.gone {
			return 0, io.EOF // the unterminated last line of a finished file
		}
		// In the middle of a long line: wait for its end.
		timer := time.NewTimer(r.in.cfg.PollInterval)
		select {
		case <-r.ctx.Done():
			timer.Stop()
			return 0, r.ctx.Err() // not io.EOF: the unfinished line is no record
		case <-timer.C:
		}
		if err := r.in.scan(); err != nil {
			return 0, err
		}
	}
}

var (
	_ connector.StreamReader  = (*Input)(nil)
	_ connector.Interruptible = (*Input)(nil)
	_ connector.Progresser    = (*Input)(nil)

	_ connector.MappableReader = (*fileReader)(nil)
)
