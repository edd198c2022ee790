package script

import (
	"path/filepath"
	"strings"
	"sync"
)

// Modules are the directories a stage's require may load from (modules:).
// A module file must lie inside one of them once symbolic links are
// resolved: a link that leads out of them is refused.
type Modules struct {
	// Dirs are the directories as the stage lists them, resolved against
	// the pipeline file (search order and messages).
	Dirs []string

	once sync.Once
	real []string // Dirs absolute, with symbolic links resolved
}

// Roots returns the directories absolute and with symbolic links resolved
// (worked out once, at the first use: building a stage does no I/O).
func (m *Modules) Roots() []string {
	m.once.Do(func() {
		for _, dir := range m.Dirs {
			if abs, err := filepath.Abs(dir); err == nil {
				dir = abs
			}
			if real, err := filepath.EvalSymlinks(dir); err == nil {
				dir = real
			}
			m.real = append(m.real, dir)
		}
	})
	return m.real
}

// Inside reports whether path, absolute and with links resolved, lies in
// one of the roots.
func (m *Modules) Inside(path string) bool {
	for _, dir := range m.Roots() {
		if rel, err := filepath.Rel(dir, path); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
