package engine

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// The files a run writes (output files, the dead-letter file, stdout when
// it is a file) must not be files it reads: `--input f --output f` would
// read what it writes or replace its input, and an input glob that matches
// the output would read pipe's own output back. These checks refuse such a
// pipeline with a configuration error (exit 2) before anything is opened:
// by name when it is built (no I/O), by device and inode when it runs (a
// hard link, a symbolic link or another spelling of a path is the same
// file).

// absPath returns p absolute and clean, or p clean if that fails.
func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// globMatches reports whether the input glob pattern matches path.
func globMatches(pattern, path string) bool {
	ok, err := filepath.Match(absPath(pattern), absPath(path))
	return err == nil && ok
}

// writtenFile is a file output of a plan (output: or a named output).
type writtenFile struct {
	what string // "output file x", "output errors file x"
	path string // resolved
	src  Config // its output: mapping, for the error's position
}

// writtenFiles lists the plan's file outputs: output: first, then the named
// outputs.
func writtenFiles(spec *Spec, pl Plan) []writtenFile {
	var out []writtenFile
	if pl.Output.Type == "file" && pl.Output.Path != "" {
		out = append(out, writtenFile{"output file " + spec.Output.Path, pl.Output.Path, spec.Output.src})
	}
	for _, o := range pl.Outputs { // in name order
		if o.Type == "file" && o.Path != "" {
			named := spec.Outputs[o.Name]
			out = append(out, writtenFile{fmt.Sprintf("output %s file %s", o.Name, named.Path), o.Path, named.src})
		}
	}
	return out
}

// checkPathsByName is the build-time check: the dead-letter file is no
// output file, and neither is matched by the input's glob.
func checkPathsByName(spec *Spec, pl Plan) error {
	var dlSrc Config
	var dlPath string // as written
	if spec.DeadLetter != nil {
		dlSrc, dlPath = spec.DeadLetter.src, spec.DeadLetter.Path
	}
	outs := writtenFiles(spec, pl)
	if pl.DeadLetter != "" {
		for _, o := range outs {
			if absPath(pl.DeadLetter) == absPath(o.path) {
				return errAtField(dlSrc, spec.File, "path", "dead_letter.path %s is also the %s: the dead-letter lines and the records would overwrite each other; give them different files", dlPath, o.what)
			}
		}
	}
	if pl.Input.Type != "file" {
		return nil
	}
	for _, o := range outs {
		if globMatches(pl.Input.Path, o.path) {
			return errAtField(o.src, spec.File, "path", "%s is an input file (input path %s matches it): pipe would read its own output or replace its input; write elsewhere", o.what, spec.Input.Path)
		}
	}
	if pl.DeadLetter != "" && globMatches(pl.Input.Path, pl.DeadLetter) {
		return errAtField(dlSrc, spec.File, "path", "dead_letter.path %s is an input file (input path %s matches it): pipe would read its own rejects back; write elsewhere", dlPath, spec.Input.Path)
	}
	return nil
}

// namedFile is a file a run reads or writes, for checkOverlap.
type namedFile struct {
	what string // "output file x", "standard output", ...
	info os.FileInfo
	src  Config
}

// regularStd returns the file info of a standard stream that is a regular
// file (redirected from or to one), nil otherwise.
func regularStd(v any) os.FileInfo {
	f, ok := v.(*os.File)
	if !ok || f == nil {
		return nil
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	return st
}

// checkOverlap is the run-time check, by device and inode, made before the
// run opens its input, outputs or dead-letter file: no file the run
// writes is one it reads, and the dead-letter file is no output. stdin
// and stdout are the run's standard streams (nil: the process's).
func (p *Pipeline) checkOverlap(stdin io.Reader, stdout io.Writer) error {
	pl, spec := p.plan, p.spec
	var reads []namedFile
	switch pl.Input.Type {
	case "file":
		matches, _ := filepath.Glob(pl.Input.Path) // a bad pattern is the input's to report
		for _, f := range matches {
			if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
				reads = append(reads, namedFile{what: "input file " + f, info: st})
			}
		}
	case "", "stdin":
		if stdin == nil {
			stdin = os.Stdin
		}
		if st := regularStd(stdin); st != nil {
			reads = append(reads, namedFile{what: "standard input", info: st})
		}
	}
	var targets []namedFile
	for _, o := range writtenFiles(spec, pl) {
		if st, err := os.Stat(o.path); err == nil {
			targets = append(targets, namedFile{o.what, st, o.src})
		}
	}
	if writesStdout(pl) {
		if stdout == nil {
			stdout = os.Stdout
		}
		if st := regularStd(stdout); st != nil {
			targets = append(targets, namedFile{what: "standard output", info: st})
		}
	}
	if pl.DeadLetter != "" {
		if st, err := os.Stat(pl.DeadLetter); err == nil {
			var dlSrc Config
			if spec.DeadLetter != nil {
				dlSrc = spec.DeadLetter.src
			}
			dl := namedFile{"dead-letter file " + spec.DeadLetter.Path, st, dlSrc}
			for _, t := range targets {
				if os.SameFile(t.info, st) {
					return errAtField(dlSrc, spec.File, "path", "%s is also the %s: the dead-letter lines and the records would overwrite each other; give them different files", dl.what, t.what)
				}
			}
			targets = append(targets, dl)
		}
	}
	for _, t := range targets {
		for _, r := range reads {
			if os.SameFile(t.info, r.info) {
				return errAtField(t.src, spec.File, "path", "%s is the %s (the same file): pipe would read what it writes, or replace what it reads; write elsewhere", t.what, r.what)
			}
		}
	}
	return nil
}

// writesStdout reports whether output: or a named output is stdout.
func writesStdout(pl Plan) bool {
	if pl.Output.Type == "" || pl.Output.Type == "stdout" {
		return true
	}
	for _, o := range pl.Outputs {
		if o.Type == "" || o.Type == "stdout" {
			return true
		}
	}
	return false
}
