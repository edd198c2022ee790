// Command gendist writes pipe's man pages and shell completion scripts,
// generated from the command definitions of internal/cli, into a folder:
//
//	man/man1/pipe.1, man/man1/pipe-run.1, ...
//	completions/pipe.bash, completions/_pipe (zsh), completions/pipe.fish
//
// `make dist` runs it; `go run ./internal/tools/gendist -out DIR -version V`.
// The man pages' date is SOURCE_DATE_EPOCH when set (reproducible builds).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	_ "github.com/pipe-dev/pipe/connectors/all"
	"github.com/pipe-dev/pipe/internal/cli"
	_ "github.com/pipe-dev/pipe/stages/all"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

func main() {
	out := flag.String("out", "dist/share", "folder to write man/ and completions/ into")
	version := flag.String("version", "", "version shown in the man pages' footer")
	flag.Parse()
	if err := generate(*out, *version); err != nil {
		fmt.Fprintf(os.Stderr, "gendist: %v\n", err)
		os.Exit(1)
	}
}

func generate(out, version string) error {
	root := cli.Command()
	root.DisableAutoGenTag = true   // no generation date in the pages
	root.InitDefaultCompletionCmd() // document `pipe completion` too
	man := filepath.Join(out, "man", "man1")
	comp := filepath.Join(out, "completions")
	for _, dir := range []string{man, comp} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	header := &doc.GenManHeader{Title: "PIPE", Section: "1", Source: "pipe " + version, Manual: "pipe manual"}
	if err := doc.GenManTree(root, header, man); err != nil {
		return fmt.Errorf("man pages: %w", err)
	}
	scripts := []struct {
		file string
		gen  func(*cobra.Command, string) error
	}{
		{"pipe.bash", func(c *cobra.Command, f string) error { return c.GenBashCompletionFileV2(f, true) }},
		{"_pipe", (*cobra.Command).GenZshCompletionFile},
		{"pipe.fish", func(c *cobra.Command, f string) error { return c.GenFishCompletionFile(f, true) }},
	}
	for _, s := range scripts {
		if err := s.gen(root, filepath.Join(comp, s.file)); err != nil {
			return fmt.Errorf("completion %s: %w", s.file, err)
		}
	}
	return nil
}
