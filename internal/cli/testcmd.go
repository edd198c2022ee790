package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/pipe-dev/pipe/engine"
	"github.com/spf13/cobra"
)

// errTestsFailed and errTestsConfig make `pipe test` exit 1 or 2 once
// every case and error has been reported.
var (
	errTestsFailed = errors.New("tests failed")
	errTestsConfig = errors.New("tests have configuration errors")
)

func (a *app) testCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "test FILE...",
		Short: "run the tests: cases of pipeline files",
		Long: `Run the test cases in pipeline files: the tests: section of each FILE, and of
FILE_test.yaml beside it (a file with only a tests: section; passing it runs
the pipeline it is named after). Each case feeds input records (with
metadata) into the pipeline, or into a stage range with from:/to:, and
compares the output records (as JSON under ndjson), drops, errors or the
run's error. A failing case is named and its output shown as a diff.

Exit status: 0 all cases pass, 1 a case failed, 2 a configuration error.`,
		Example: `  pipe test pipelines/*.yaml

  # in a pipeline file:
  tests:
    - name: keeps only errors
      input: ['{"level":"error","msg":"x"}', '{"level":"info"}']
      expect: ['{"level":"error","msg":"X"}']
      dropped: 1`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("pipe test needs at least one pipeline FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := a.logger(); err != nil {
				return err
			}
			audit, err := a.openAudit()
			if err != nil {
				return err
			}
			defer audit.close()
			passed, failed := 0, 0
			var cfgErr error
			for _, file := range args {
				p, f, err := a.testFile(file, audit)
				passed += p
				failed += f
				if err != nil {
					a.printErr(err)
					if cfgErr == nil {
						cfgErr = err
					}
				}
			}
			fmt.Fprintf(a.stdout, "%d passed, %d failed\n", passed, failed)
			switch {
			case cfgErr != nil:
				var ce *engine.ConfigError
				if errors.As(cfgErr, &ce) {
					return errTestsConfig
				}
				return errTestsFailed
			case failed > 0:
				return errTestsFailed
			}
			return audit.err() // events lost: exit 1
		},
	}
}

// testFile runs the cases of one pipeline file (or FILE_test.yaml).
func (a *app) testFile(file string, audit *auditLog) (passed, failed int, err error) {
	pipeFile, testFiles := file, []string{}
	if base, ok := strings.CutSuffix(file, "_test.yaml"); ok {
		pipeFile = base + ".yaml"
		testFiles = append(testFiles, file)
	} else if base, ok := strings.CutSuffix(file, ".yaml"); ok {
		if _, err := os.Stat(base + "_test.yaml"); err == nil {
			testFiles = append(testFiles, base+"_test.yaml")
		}
	}
	spec, err := a.parseFile(pipeFile)
	if err != nil {
		return 0, 0, err
	}
	cases, err := spec.TestCases()
	if err != nil {
		return 0, 0, err
	}
	for _, tf := range testFiles {
		ts, err := a.parseFile(tf)
		if err != nil {
			return 0, 0, err
		}
		if len(ts.Stages) > 0 || ts.Input != (engine.InputSpec{}) {
			return 0, 0, &engine.ConfigError{File: tf, Msg: "a _test.yaml file holds only a tests: section"}
		}
		more, err := ts.TestCases()
		if err != nil {
			return 0, 0, err
		}
		cases = append(cases, more...)
	}
	if len(cases) == 0 {
		fmt.Fprintf(a.stdout, "?    %s (no tests)\n", file)
		return 0, 0, nil
	}
	log, err := a.logger()
	if err != nil {
		return 0, 0, err
	}
	opts, err := a.buildOptions(spec, log, audit)
	if err != nil {
		return 0, 0, err
	}
	for _, tc := range cases {
		res, err := engine.RunTest(context.Background(), spec, tc, opts...)
		if err != nil {
			return passed, failed, err
		}
		if res.Passed {
			passed++
			fmt.Fprintf(a.stdout, "ok   %s: %s\n", pipeFile, res.Case)
			continue
		}
		failed++
		fmt.Fprintf(a.stdout, "FAIL %s: %s\n", pipeFile, res.Case)
		for _, l := range strings.Split(strings.TrimRight(res.Problem, "\n"), "\n") {
			fmt.Fprintf(a.stdout, "    %s\n", l)
		}
	}
	return passed, failed, nil
}

// parseFile parses a pipeline file, checking its stages against the
// app's registry.
func (a *app) parseFile(file string) (*engine.Spec, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, &engine.ConfigError{Msg: fmt.Sprintf("read pipeline: %v", err), Err: err}
	}
	return engine.Parse(data, file, engine.WithRegistry(a.reg))
}
