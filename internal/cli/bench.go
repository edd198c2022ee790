package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"text/tabwriter"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/gendata"
	"github.com/spf13/cobra"
)

type profileFlags struct{ cpu, mem string }

// start starts the CPU profile; the returned stop ends it and writes the
// heap profile.
func (f profileFlags) start() (stop func() error, err error) {
	var cpuFile *os.File
	if f.cpu != "" {
		if cpuFile, err = os.Create(f.cpu); err != nil {
			return nil, usagef("--cpuprofile: %v", err)
		}
		if err := pprof.StartCPUProfile(cpuFile); err != nil {
			cpuFile.Close()
			return nil, fmt.Errorf("cpu profile: %w", err)
		}
	}
	return func() error {
		if cpuFile != nil {
			pprof.StopCPUProfile()
			if err := cpuFile.Close(); err != nil {
				return err
			}
		}
		if f.mem != "" {
			mf, err := os.Create(f.mem)
			if err != nil {
				return usagef("--memprofile: %v", err)
			}
			runtime.GC()
			if err := pprof.Lookup("allocs").WriteTo(mf, 0); err != nil {
				mf.Close()
				return err
			}
			return mf.Close()
		}
		return nil
	}, nil
}

func (f *profileFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.cpu, "cpuprofile", "", "write a CPU profile to this file (go tool pprof FILE)")
	cmd.Flags().StringVar(&f.mem, "memprofile", "", "write an allocation profile to this file at the end")
}

func (a *app) benchCmd() *cobra.Command {
	var (
		generate int
		seed     uint64
		input    string
		prof     profileFlags
	)
	cmd := &cobra.Command{
		Use:   "bench FILE",
		Short: "measure a pipeline: records/s, MB/s, latency and share of time per stage",
		Long: `Run a pipeline on its input (or on generated log records with --generate N)
with its output discarded, and report for every stage: records in and out,
its own throughput (records/s and MB/s while it was busy), batch latency
percentiles and its share of the stages' time, so the bottleneck stands out;
then the end-to-end throughput.`,
		Example: `  pipe bench pipelines/error-digest.yaml
  pipe bench pipelines/error-digest.yaml --generate 1000000 --cpuprofile cpu.prof`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			log, err := a.logger()
			if err != nil {
				return err
			}
			switch {
			case generate < 0:
				return usagef("--generate %d: want a number of records", generate)
			case generate > 0 && input != "":
				return usagef("--generate and --input contradict each other")
			}
			spec, err := a.parseFile(args[0])
			if err != nil {
				return err
			}
			if generate > 0 {
				dir, err := os.MkdirTemp("", "pipe-bench")
				if err != nil {
					return err
				}
				defer os.RemoveAll(dir)
				data := filepath.Join(dir, "logs.ndjson")
				f, err := os.Create(data)
				if err != nil {
					return err
				}
				err = gendata.Write(f, generate, seed)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					return fmt.Errorf("generate: %w", err)
				}
				spec.Input.Type, spec.Input.Path = "file", data
			}
			override(&spec.Input.Type, &spec.Input.Path, "stdin", input)
			spec.Output = engine.OutputSpec{Codec: spec.Output.Codec}
			audit, err := a.openAudit()
			if err != nil {
				return err
			}
			defer audit.close()
			p, err := a.build(spec, log, audit)
			if err != nil {
				return err
			}
			defer p.Close()
			if err := p.Load(context.Background()); err != nil {
				return err
			}
			stopProf, err := prof.start()
			if err != nil {
				return err
			}
			ctx, stop := a.signalContext(log, true)
			defer stop()
			start := time.Now()
			err = p.Run(ctx, a.stdin, io.Discard)
			elapsed := time.Since(start)
			if perr := stopProf(); err == nil {
				err = perr
			}
			printBench(a.stdout, p, elapsed)
			if aerr := audit.err(); err == nil {
				err = aerr // events lost: exit 1
			}
			return err
		},
	}
	cmd.Flags().IntVar(&generate, "generate", 0, "run on N generated log records (the shared benchmark data) instead of the input")
	cmd.Flags().Uint64Var(&seed, "seed", 42, "seed of --generate")
	cmd.Flags().StringVarP(&input, "input", "i", "", "read this file or glob instead of the pipeline's input")
	prof.add(cmd)
	return cmd
}

func printBench(w io.Writer, p *engine.Pipeline, elapsed time.Duration) {
	stats := p.Stats()
	var busy int64
	for _, s := range stats[1 : len(stats)-1] {
		busy += s.Busy
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tkind\tin\tout\trecords/s\tMB/s\tp50 batch\tp90 batch\tp99 batch\tshare\t")
	for _, s := range stats[1 : len(stats)-1] {
		rps, mbps, share := "-", "-", "-"
		if s.Busy > 0 {
			sec := time.Duration(s.Busy).Seconds()
			rps = fmt.Sprintf("%.0f", float64(s.In)/sec)
			mbps = fmt.Sprintf("%.1f", float64(s.InBytes)/sec/1e6)
			share = fmt.Sprintf("%.0f%%", float64(s.Busy)/float64(busy)*100)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.Name, s.Kind, s.In, s.Out, rps, mbps,
			percentile(s.BatchLatency, 0.5), percentile(s.BatchLatency, 0.9), percentile(s.BatchLatency, 0.99), share)
	}
	tw.Flush()
	in := stats[0].In
	read, _ := p.Progress()
	sec := elapsed.Seconds()
	fmt.Fprintf(w, "end to end: %d records, %s in %s: %.0f records/s, %.1f MB/s; %d records out\n",
		in, humanBytes(read), elapsed.Round(time.Millisecond), float64(in)/sec, float64(read)/sec/1e6, stats[len(stats)-1].Out)
}
