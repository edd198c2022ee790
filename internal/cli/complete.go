package cli

import (
	"os"
	"strings"

	"github.com/pipe-dev/pipe/engine"
	"github.com/spf13/cobra"
)

// Command returns pipe's root command as Main runs it, for tools that
// generate documentation from it (man pages, completion scripts); its
// output goes to os.Stdout and os.Stderr.
func Command() *cobra.Command {
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, reg: engine.DefaultRegistry}
	return a.rootCmd()
}

// addCompletions teaches the shell completion scripts (`pipe completion
// bash|zsh|fish`) the values of pipe's arguments and flags: pipeline files
// (*.yaml, *.yml) for the commands that take them, stage kinds and native
// transformer names, and the choices of the flags that have a fixed set.
// Flags a command does not have are skipped, so that commands added later
// keep their own completions.
func (a *app) addCompletions(root *cobra.Command) {
	pipelineFiles := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	}
	fixed := func(values ...string) cobra.CompletionFunc {
		return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
	}
	natives := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, n := range a.reg.Natives() {
			out = append(out, n.Name+"\t"+n.Summary)
		}
		return out, cobra.ShellCompDirectiveDefault // or the path of a .so
	}
	kindsAndNatives := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, k := range a.reg.Kinds() {
			out = append(out, k+"\tstage kind")
		}
		for _, n := range a.reg.Natives() {
			out = append(out, n.Name+"\t"+n.Summary)
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
	flag := func(cmd *cobra.Command, name string, f cobra.CompletionFunc) {
		if cmd.Flags().Lookup(name) != nil || cmd.PersistentFlags().Lookup(name) != nil {
			if _, ok := cmd.GetFlagCompletionFunc(name); !ok {
				_ = cmd.RegisterFlagCompletionFunc(name, f)
			}
		}
	}
	// The completion command cobra adds: an unknown shell is a usage error
	// (exit 2), like an unknown command, not its help with exit 0.
	root.InitDefaultCompletionCmd()
	for _, cmd := range root.Commands() {
		if cmd.Name() == "completion" {
			cmd.Args = cobra.ArbitraryArgs
			cmd.RunE = func(cmd *cobra.Command, args []string) error {
				if len(args) == 0 {
					return cmd.Help()
				}
				return usagef("completion: unknown shell %q (want bash, zsh, fish or powershell)", args[0])
			}
		}
	}
	flag(root, "log-format", fixed("text", "json"))
	flag(root, "log-level", fixed("debug", "info", "warn", "error"))
	for _, cmd := range root.Commands() {
		name := strings.Fields(cmd.Use)[0]
		switch name {
		case "run", "lint", "test", "bench":
			if cmd.ValidArgsFunction == nil {
				cmd.ValidArgsFunction = pipelineFiles
			}
		case "stages", "docs":
			if cmd.ValidArgsFunction == nil {
				cmd.ValidArgsFunction = kindsAndNatives
			}
		}
		flag(cmd, "codec", fixed("lines", "ndjson", "raw"))
		flag(cmd, "on-error", fixed("fail", "drop"))
		flag(cmd, "stats", fixed("json"))
		flag(cmd, "native", natives)
		flag(cmd, "wasm", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return []string{"wasm"}, cobra.ShellCompDirectiveFilterFileExt
		})
		for _, code := range []string{"lua", "js", "config", "arg", "timeout", "workers"} {
			flag(cmd, code, cobra.NoFileCompletions)
		}
	}
}
