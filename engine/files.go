package engine

import (
	"errors"
	"fmt"
	"path/filepath"
)

// Files returns the files and directories the pipeline depends on, as
// absolute paths: its file, each stage's files as its kind describes them
// (KindSpec.Files: the script, module, binary or .so, module directories)
// and schema files. It is what `pipe run --watch` watches.
func (p *Pipeline) Files() []string {
	var files []string
	if p.spec.File != "" {
		files = append(files, p.spec.File)
	}
	for i := range p.spec.Stages {
		s := &p.spec.Stages[i]
		if k, ok := p.opts.reg.KindSpec(s.Type); ok {
			files = append(files, k.StageFiles(s)...)
		} else if s.Path != "" {
			files = append(files, s.Resolve(s.Path))
		}
		if v, _ := s.Schema.Value(); v != nil {
			if path, ok := v.(string); ok {
				files = append(files, s.Resolve(path))
			}
		}
	}
	for i, f := range files {
		if abs, err := filepath.Abs(f); err == nil {
			files[i] = abs
		}
	}
	return files
}

// CheckLive reports whether next can replace the stages of p that run now
// in a live run (RunLive), as far as the stage kinds can tell before next
// is loaded: each stage of next is checked by its kind's KindSpec.Live
// against the running stage of the same name (nil when there is none).
// The error names every stage that cannot change live and why.
func (p *Pipeline) CheckLive(next *Pipeline) error {
	cur := p
	if r := p.last.Load(); r != nil {
		r.mu.Lock()
		if n := len(r.versions); n > 0 {
			cur = r.versions[n-1].p
		}
		r.mu.Unlock()
	}
	running := map[string]*stageExec{}
	for _, s := range cur.stages {
		running[s.plan.Name] = s
	}
	var errs []error
	for _, s := range next.stages {
		k, ok := next.opts.reg.KindSpec(s.plan.Kind)
		if !ok || k.Live == nil {
			continue
		}
		var prev Stage
		if r, ok := running[s.plan.Name]; ok && r.plan.Kind == s.plan.Kind {
			prev = r.stage
		}
		if err := k.Live(prev, s.spec); err != nil {
			errs = append(errs, fmt.Errorf("stage %s: %w", quote(s.plan.Name), err))
		}
	}
	return errors.Join(errs...)
}
