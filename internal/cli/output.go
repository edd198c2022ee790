package cli

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pipe-dev/pipe/engine"
)

// jsonLogs reports whether stderr carries JSON lines (--log-format json):
// then every line pipe writes there is one JSON object, the final error,
// --stats and the progress line included.
func (a *app) jsonLogs() bool { return a.logFormat == "json" }

// jsonLine returns a logger that writes one JSON object per call to stderr,
// whatever --log-level says (errors, stats and progress are not optional).
func (a *app) jsonLine() *slog.Logger {
	return slog.New(slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// printErr writes an error to stderr: "pipe: ERR", or under --log-format
// json one line {"level":"ERROR","msg":ERR,...} with the error's kind and,
// when it has them, its file, line and column or stage and record.
// A file with several config errors (engine.ConfigErrors) gives one line
// for each.
func (a *app) printErr(err error, attrs ...any) {
	if !a.jsonLogs() {
		fmt.Fprint(a.stderr, errorLines(err))
		return
	}
	var list engine.ConfigErrors
	if errors.As(err, &list) && err.Error() == list.Error() {
		for _, ce := range list {
			a.jsonLine().Error(ce.Error(), append(errorAttrs(ce), attrs...)...)
		}
		return
	}
	a.jsonLine().Error(err.Error(), append(errorAttrs(err), attrs...)...)
}

// printWarn writes a warning to stderr: "pipe: MSG", or one JSON line
// under --log-format json.
func (a *app) printWarn(msg string) {
	if !a.jsonLogs() {
		fmt.Fprintf(a.stderr, "pipe: %s\n", msg)
		return
	}
	a.jsonLine().Warn(msg)
}

// errorAttrs are the machine-readable parts of err.
func errorAttrs(err error) []any {
	var (
		ce *engine.ConfigError
		se *engine.StageError
		ue usageError
	)
	switch {
	case errors.As(err, &ce):
		out := []any{"error_kind", "config"}
		if ce.File != "" {
			out = append(out, "file", ce.File)
		}
		if ce.Line > 0 {
			out = append(out, "line", ce.Line, "col", ce.Col)
		}
		return out
	case errors.As(err, &ue):
		return []any{"error_kind", "usage"}
	case errors.As(err, &se):
		out := []any{"error_kind", "runtime", "stage", se.Stage, "op", se.Op}
		if se.Kind != "" {
			out = append(out, "kind", se.Kind)
		}
		if se.Record > 0 {
			out = append(out, "record", se.Record)
		}
		return out
	}
	return []any{"error_kind", "runtime"}
}

// statsLine is one stage's row of --stats=json.
type statsLine struct {
	Stage        string  `json:"stage"`
	Kind         string  `json:"kind"`
	Plugin       string  `json:"plugin,omitempty"`
	In           int64   `json:"in"`
	InBytes      int64   `json:"in_bytes"`
	Passed       int64   `json:"passed"`
	Out          int64   `json:"out"`
	Dropped      int64   `json:"dropped"`
	Errors       int64   `json:"errors"`
	NotProcessed int64   `json:"not_processed"`
	DeadLettered int64   `json:"dead_lettered"`
	Timeouts     int64   `json:"timeouts"`
	Restarts     int64   `json:"restarts"`
	BusySeconds  float64 `json:"busy_seconds"`
	AvgSeconds   float64 `json:"avg_seconds_per_record"`
	// BatchP50 and BatchP99 are latency bucket bounds in seconds (the
	// batch took at most that long); -1 above the last bucket, absent
	// when no batch went through.
	BatchP50 *float64 `json:"batch_p50_seconds,omitempty"`
	BatchP99 *float64 `json:"batch_p99_seconds,omitempty"`
}

// printStatsJSON writes the --stats table as one JSON line:
// {"msg":"stats","pipeline":...,"records":N,"elapsed_seconds":S,
// "records_per_second":R,"stages":[{"stage":...},...]}; the input and the
// output are rows too, as in the table.
func (a *app) printStatsJSON(pipeline string, stats []engine.StageStats, elapsed time.Duration) {
	rows := make([]statsLine, 0, len(stats))
	for _, s := range stats {
		kind := s.Kind
		if kind == "" {
			kind = s.Name
		}
		r := statsLine{Stage: s.Name, Kind: kind, Plugin: s.Plugin, In: s.In, InBytes: s.InBytes, Passed: s.Passed, Out: s.Out,
			Dropped: s.Dropped, Errors: s.Errors, NotProcessed: s.NotProcessed, DeadLettered: s.DeadLettered, Timeouts: s.Timeouts,
			Restarts: s.Restarts, BusySeconds: time.Duration(s.Busy).Seconds()}
		if s.In > 0 {
			r.AvgSeconds = r.BusySeconds / float64(s.In)
		}
		if s.BatchLatency != nil {
			r.BatchP50, r.BatchP99 = percentileSeconds(s.BatchLatency, 0.5), percentileSeconds(s.BatchLatency, 0.99)
		}
		rows = append(rows, r)
	}
	var in int64
	if len(stats) > 0 {
		in = stats[0].In
	}
	a.jsonLine().Info("stats", "pipeline", pipeline, "records", in, "elapsed_seconds", elapsed.Seconds(),
		"records_per_second", float64(in)/max(elapsed.Seconds(), 1e-9), "stages", rows)
}

// percentileSeconds is percentile as a number: the bucket bound in
// seconds, -1 above the last bucket, nil without batches.
func percentileSeconds(counts []int64, q float64) *float64 {
	i := percentileBucket(counts, q)
	if i < 0 {
		return nil
	}
	v := -1.0
	if i < len(engine.LatencyBuckets) {
		v = engine.LatencyBuckets[i].Seconds()
	}
	return &v
}

// pipelineName is the pipeline label of metrics and JSON stats: the
// file's name: field, else the file's base name without extension, else
// "filter" (stages from flags).
func pipelineName(spec *engine.Spec, file string) string {
	switch {
	case spec != nil && spec.Name != "":
		return spec.Name
	case file != "":
		base := file[strings.LastIndexAny(file, `/\`)+1:]
		if i := strings.LastIndexByte(base, '.'); i > 0 {
			base = base[:i]
		}
		return base
	}
	return "filter"
}
