// Package script is the host of the script kinds (lua, js): what they
// share, written once. A kind supplies a Language (compile, make a VM) and
// a VM (run the top level, call transform and flush, convert values); the
// host (Stage, Instance) reads the script once and checks a pinned
// plugin's bytes, compiles once per stage, checks the top level at Load,
// makes one VM per worker, calls init(config), collects emits, interrupts a
// call on timeout and replaces the VM after one. Modules are the modules:
// roots of require; Lazy is the lazy view of a JSON object record.
package script

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/internal/pin"
)

// Source is the script of a stage: inline (code:) or a file (path:).
type Source struct {
	Name string // chunk name in error messages: the file's base name, or STAGE.EXT
	File string // the script file, "" for code:
	Code string // the source, once read
}

// FromSpec checks that a stage of kind gives exactly one of code: and
// path: (no I/O).
func FromSpec(spec *engine.StageSpec, kind, ext string) (Source, error) {
	switch {
	case spec.Use != "":
		return Source{}, spec.Errorf("use", "%s stages take code: or path:, not use:", kind)
	case spec.Code != "" && spec.Path != "":
		return Source{}, spec.Errorf("path", "a %s stage takes code: or path:, not both", kind)
	case spec.Code == "" && spec.Path == "":
		return Source{}, spec.Errorf("type", "a %s stage needs code: (a script or the body of transform) or path: (a %s file)", kind, ext)
	}
	if spec.Path != "" {
		file := spec.Resolve(spec.Path)
		return Source{Name: filepath.Base(file), File: file}, nil
	}
	return Source{Name: spec.Name + ext, Code: spec.Code}, nil
}

// Field is the stage field the script came from (for error positions).
func (s *Source) Field() string {
	if s.File != "" {
		return "path"
	}
	return "code"
}

// Read loads the script file, if any, once: the stage compiles and runs
// these bytes and never reads the file again. The bytes of a plugin
// resolved with a pinned SHA-256 must have it (pin.Check: otherwise a
// configuration error, and the event plugin_refused through events).
func (s *Source) Read(spec *engine.StageSpec, events *engine.StageEvents, kind string) error {
	if s.File == "" {
		return nil
	}
	b, err := os.ReadFile(s.File)
	if err != nil {
		return spec.Errorf("path", "cannot read %s script: %v", kind, err)
	}
	if err := pin.Check(spec, events, s.File, b); err != nil {
		return err
	}
	s.Code = string(b)
	return nil
}

const special = `.*?\|#@!:`

// specialByte tells the bytes of special (all ASCII: no byte of a
// multi-byte UTF-8 sequence is one of them).
var specialByte = func() (t [256]bool) {
	for i := 0; i < len(special); i++ {
		t[special[i]] = true
	}
	return t
}()

// plainPath reports whether FieldPath(k) is k (k has no special byte).
func plainPath(k string) bool {
	for i := 0; i < len(k); i++ {
		if specialByte[k[i]] {
			return false
		}
	}
	return true
}

// FieldPath escapes a JSON field name for gjson and sjson paths.
func FieldPath(k string) string {
	if plainPath(k) {
		return k
	}
	var b strings.Builder
	for _, c := range k {
		if strings.ContainsRune(special, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// IsObject reports whether a JSON value is an object (its first
// non-blank byte is '{').
func IsObject(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c == '{'
		}
	}
	return false
}
