package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/plugins"
)

// watchedFiles lists the files a pipeline depends on: the file itself and
// what each stage's kind says its stages use (scripts, modules, plugins,
// binaries, module directories; engine.Pipeline.Files), schema files, and
// the manifest and signature of plugins from plugin directories.
func watchedFiles(file string, p *engine.Pipeline) []string {
	files := []string{file}
	files = append(files, p.Files()...)
	for i := range p.Spec().Stages {
		s := &p.Spec().Stages[i]
		if s.Path != "" && s.Plugin() != "" {
			files = append(files, pluginFiles(s.Resolve(s.Path))...)
		}
	}
	for i, f := range files {
		if abs, err := filepath.Abs(f); err == nil {
			files[i] = abs
		}
	}
	return files
}

// pluginFiles returns the manifest and signature of the plugin whose entry
// file is entry: in the entry's folder or the nearest one above it (an
// entry may sit in a subfolder of the plugin, entry: bin/geo).
func pluginFiles(entry string) []string {
	for d := filepath.Dir(entry); ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, plugins.ManifestName)); err == nil {
			return []string{filepath.Join(d, plugins.ManifestName), filepath.Join(d, plugins.SignatureName)}
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}

// fileHashes maps each file a pipeline uses (watchedFiles; not
// directories) to its hex sha256, for the audit log.
func fileHashes(file string, p *engine.Pipeline) map[string]string {
	out := map[string]string{}
	for _, f := range watchedFiles(file, p) {
		if st, err := os.Stat(f); err != nil || !st.Mode().IsRegular() {
			continue
		}
		if b, err := os.ReadFile(f); err == nil {
			sum := sha256.Sum256(b)
			out[f] = hex.EncodeToString(sum[:])
		}
	}
	return out
}

// runLive runs a pipeline file so that it can be replaced while it runs:
// on SIGHUP, and with --watch on any change to the files it uses, the file
// is parsed, built and loaded beside the running pipeline and swapped in
// between batches; a bad edit is rejected and the old pipeline goes on.
func (a *app) runLive(ctx context.Context, file string, f *runFlags, p *engine.Pipeline, log *slog.Logger, audit *auditLog) error {
	reloads := make(chan engine.Reload)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var w *fsnotify.Watcher
	if f.watch {
		var err error
		if w, err = fsnotify.NewWatcher(); err != nil {
			return fmt.Errorf("--watch: %w", err)
		}
		defer w.Close()
	}
	watched := map[string]bool{}
	watch := func(q *engine.Pipeline) {
		if w == nil {
			return
		}
		for _, path := range watchedFiles(file, q) {
			watched[path] = true
			dir := path
			if st, err := os.Stat(path); err != nil || !st.IsDir() {
				dir = filepath.Dir(path)
			}
			if err := w.Add(dir); err != nil {
				log.Warn("cannot watch", "path", dir, "err", err)
			}
		}
	}
	watch(p)
	version := 1
	running := p.Plan() // the plan of the version running now

	reload := func(why string) {
		next, err := a.rebuild(file, f, log, audit, p)
		if err == nil {
			res := make(chan error, 1)
			select {
			case reloads <- engine.Reload{Next: next, Done: res}:
				err = <-res
			case <-ctx.Done():
				return
			}
		}
		if err != nil {
			log.Error("reload rejected: the running pipeline goes on", "file", file, "trigger", why, "err", err)
			audit.event("pipeline_reload_rejected", map[string]any{"file": file, "trigger": why, "reason": err.Error()})
			return
		}
		version++
		var changes []string
		for _, c := range running.Diff(next.Plan()) {
			changes = append(changes, c.String())
		}
		running = next.Plan()
		var stages []string
		for _, s := range next.Spec().Stages {
			st := s.Name + " (" + s.Type
			if s.Plugin() != "" {
				st += " " + s.Plugin()
			}
			stages = append(stages, st+")")
		}
		// RunLive applied every change or refused the reload: all of
		// these are in effect now.
		log.Info("pipeline reloaded", "file", file, "trigger", why, "version", version, "stages", strings.Join(stages, ", "),
			"changes", strings.Join(changes, "; "))
		audit.event("pipeline_reloaded", map[string]any{"file": file, "trigger": why, "version": version, "stages": stages,
			"changes": changes, "sha256": fileHashes(file, next)})
		watch(next)
	}

	stop := make(chan struct{})
	go func() {
		var events <-chan fsnotify.Event
		var errs <-chan error
		if w != nil {
			events, errs = w.Events, w.Errors
		}
		debounce := time.NewTimer(time.Hour)
		debounce.Stop()
		changed := ""
		for {
			select {
			case <-stop:
				return
			case <-hup:
				reload("SIGHUP")
			case ev, ok := <-events:
				if !ok {
					return
				}
				path, _ := filepath.Abs(ev.Name)
				if watched[path] || watched[filepath.Dir(path)] {
					changed = path
					debounce.Reset(200 * time.Millisecond) // editors write in several steps
				}
			case err, ok := <-errs:
				if ok {
					log.Warn("watching files", "err", err)
				}
			case <-debounce.C:
				reload("change of " + changed)
			}
		}
	}()
	defer close(stop)
	return p.RunLive(ctx, a.stdin, a.stdout, reloads)
}

// rebuild parses, builds and loads the pipeline file again (with the
// command line's overrides). Before loading, each stage's kind says
// whether it can replace what runs now (a changed Go .so cannot).
func (a *app) rebuild(file string, f *runFlags, log *slog.Logger, audit *auditLog, running *engine.Pipeline) (*engine.Pipeline, error) {
	spec, err := a.spec(file, f)
	if err != nil {
		return nil, err
	}
	next, err := a.build(spec, log, audit)
	if err != nil {
		return nil, err
	}
	if err := running.CheckLive(next); err != nil {
		next.Close()
		return nil, err
	}
	if err := next.Load(context.Background()); err != nil {
		next.Close()
		return nil, err
	}
	return next, nil
}
