// Package refdocs renders the Markdown reference of every registered
// component (docs/reference in the repository): one page per component and
// an index. `go generate ./docs/reference` writes them; a test fails when
// the committed pages differ from what the code's specs say.
package refdocs

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
)

// Pages returns the reference pages of the components of reg, by file
// name: README.md (the index) and CLASS-NAME.md per component.
func Pages(reg *engine.Registry) map[string]string {
	specs := reg.Specs()
	pages := map[string]string{"README.md": component.Index(specs)}
	for _, s := range specs {
		pages[s.PageName()] = s.Markdown()
	}
	pages["pipeline.md"] = pipelinePage()
	return pages
}

// pipelinePage documents the pipeline file's own fields and those every
// stage has, reflected from engine.Spec and engine.StageSpec.
func pipelinePage() string {
	var b strings.Builder
	b.WriteString("# The pipeline file\n\nGenerated from the pipeline file's Go structs (engine.Spec); do not edit. " +
		"`pipe schema` prints the same as a JSON Schema for editors.\n\n## Top-level fields\n\n")
	var top []component.Field
	for _, f := range component.FieldsOf(engine.Spec{}) {
		if f.Name == "input" || f.Name == "output" || f.Name == "stages" {
			f.Fields = nil // described below and on the input and output pages
		}
		top = append(top, f)
	}
	b.WriteString(component.FieldTable(top))
	b.WriteString("\n`input:` and `output:` take the fields of their type: see the [inputs and outputs](README.md).\n")
	b.WriteString("\n## Fields of every stage\n\nA stage's kind (`type:`) may add fields of its own: see the [stage kinds](README.md#stage-kinds).\n\n")
	b.WriteString(component.FieldTable(component.FieldsOf(engine.StageSpec{})))
	return b.String()
}

// Write writes pages into dir and removes other .md files there (pages of
// components that no longer exist).
func Write(dir string, pages map[string]string) error {
	old, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if _, ok := pages[filepath.Base(f)]; !ok {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	for name, text := range pages {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return fmt.Errorf("write reference: %w", err)
		}
	}
	return nil
}

// Diff lists how the .md files in dir differ from pages: missing, changed
// and stale files ("" when they match).
func Diff(dir string, pages map[string]string) (string, error) {
	var problems []string
	for name, text := range pages {
		b, err := os.ReadFile(filepath.Join(dir, name))
		switch {
		case os.IsNotExist(err):
			problems = append(problems, name+": missing")
		case err != nil:
			return "", err
		case string(b) != text:
			problems = append(problems, name+": differs from the code's specs")
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		return "", err
	}
	for _, f := range files {
		if _, ok := pages[filepath.Base(f)]; !ok {
			problems = append(problems, filepath.Base(f)+": no such component any more")
		}
	}
	return strings.Join(problems, "\n"), nil
}
