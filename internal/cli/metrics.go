package cli

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/pipe-dev/pipe/engine"
)

// stageCollector exports a pipeline's per-stage counts. It reads
// Pipeline.Stats when scraped, so the record path pays nothing for it.
// Every series carries the pipeline label (the file's name:, else its base
// name, else "filter"), so that several pipes can share one Prometheus.
type stageCollector struct {
	p        *engine.Pipeline
	pipeline string
}

func newStageCollector(p *engine.Pipeline, pipeline string) *stageCollector {
	return &stageCollector{p: p, pipeline: pipeline}
}

// The help of the pipe_stage_* series.
const (
	helpStageIn           = "Records that entered the stage (input: records read)."
	helpStageInBytes      = "Bytes of the records that entered the stage."
	helpStageOut          = "Records the stage emitted (splits count each)."
	helpStageDropped      = "Records the stage dropped (emitted nothing)."
	helpStageFailed       = "Records that failed in the stage (timeouts, schema and size violations included)."
	helpStageDead         = "Failed records written to the dead-letter file."
	helpStagePassed       = "Records that produced at least one output."
	helpStageNotProcessed = "Records handed to the stage that got no outcome because the run stopped first (set when the run ends): in = passed + dropped + failed + not processed."
	helpStageTimeouts     = "Records that exceeded the stage's per-record timeout."
	helpStageBusy         = "Time the stage's workers spent processing batches."
	helpStageRestarts     = "Restarts of the stage's runtime (rpc plugins)."
	helpStageLatency      = "Time the stage took for one batch."
)

func (c *stageCollector) collect(s *promSet) {
	read, total := c.p.Progress()
	s.add("pipe_input_bytes_read_total", "Bytes the input read from its files (compressed bytes for .gz and .zst, stdin when redirected from a file).",
		promCounter, float64(read), "pipeline", c.pipeline)
	s.add("pipe_input_bytes", "Total size of the input files (0 when the input is not files).", promGauge, float64(total), "pipeline", c.pipeline)
	s.add("pipe_output_bytes_written_total", "Bytes the output wrote (before compression).", promCounter, float64(c.p.OutputBytes()), "pipeline", c.pipeline)
	for _, st := range c.p.Stats() {
		kind := st.Kind
		if kind == "" {
			kind = st.Name // input, output
		}
		counter := func(name, help string, v float64) {
			s.add("pipe_stage_"+name, help, promCounter, v, "pipeline", c.pipeline, "stage", st.Name, "kind", kind)
		}
		counter("records_in_total", helpStageIn, float64(st.In))
		counter("records_out_total", helpStageOut, float64(st.Out))
		counter("records_dropped_total", helpStageDropped, float64(st.Dropped))
		counter("records_failed_total", helpStageFailed, float64(st.Errors))
		counter("records_dead_lettered_total", helpStageDead, float64(st.DeadLettered))
		counter("records_passed_total", helpStagePassed, float64(st.Passed))
		counter("records_not_processed_total", helpStageNotProcessed, float64(st.NotProcessed))
		if st.Name == "input" || st.Name == "output" {
			continue
		}
		counter("bytes_in_total", helpStageInBytes, float64(st.InBytes))
		counter("timeouts_total", helpStageTimeouts, float64(st.Timeouts))
		counter("busy_seconds_total", helpStageBusy, time.Duration(st.Busy).Seconds())
		counter("restarts_total", helpStageRestarts, float64(st.Restarts))
		bounds := make([]float64, len(engine.LatencyBuckets))
		cumulative := make([]uint64, len(engine.LatencyBuckets))
		var count uint64
		for i, b := range engine.LatencyBuckets {
			if i < len(st.BatchLatency) {
				count += uint64(st.BatchLatency[i])
			}
			bounds[i], cumulative[i] = b.Seconds(), count
		}
		if n := len(st.BatchLatency); n > len(engine.LatencyBuckets) {
			count += uint64(st.BatchLatency[n-1])
		}
		s.histogram("pipe_stage_batch_duration_seconds", helpStageLatency, bounds, cumulative, count, time.Duration(st.Busy).Seconds(),
			"pipeline", c.pipeline, "stage", st.Name, "kind", kind)
	}
}

// scrape returns everything /metrics serves, in the text format.
func scrape(stages *stageCollector, delivery *deliveryCollector) *promSet {
	s := newPromSet()
	stages.collect(s)
	delivery.collect(s)
	collectBuildInfo(s)
	s.add("pipe_audit_write_errors_total", "Audit log events that could not be written (--audit-log).", promCounter, float64(auditWriteErrors.Load()))
	collectGo(s)
	collectProcess(s)
	return s
}

// metricsLimits bound what clients of the metrics server can hold: a
// request's header, body and response each have a timeout, an idle
// keep-alive connection is closed after idle, and at most maxConns
// connections are open at once (a connection beyond them is closed at
// once). Tests shorten them.
var metricsLimits = struct {
	readHeader, read, write, idle time.Duration
	maxConns                      int
}{readHeader: 5 * time.Second, read: 10 * time.Second, write: 30 * time.Second, idle: 60 * time.Second, maxConns: 64}

// limitListener closes connections accepted beyond cap(sem) open ones.
type limitListener struct {
	net.Listener
	sem chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.sem <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.sem }}, nil
		default:
			c.Close() // over the limit: refuse rather than queue
		}
	}
}

// limitConn gives its slot back once, when closed.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// serveMetrics serves /metrics, /healthz and /readyz on addr until the
// returned stop is called.
func serveMetrics(addr string, p *engine.Pipeline, pipeline string, log *slog.Logger) (stop func(), err error) {
	stages, delivery := newStageCollector(p, pipeline), newDeliveryCollector(p, pipeline)
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		scrape(stages, delivery).WriteTo(w)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !p.Ready() {
			http.Error(w, "not ready: the pipeline is not running, or its input or output is failing", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, usagef("--metrics-addr %s: %v", addr, err)
	}
	ln = &limitListener{Listener: ln, sem: make(chan struct{}, metricsLimits.maxConns)}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: metricsLimits.readHeader, ReadTimeout: metricsLimits.read,
		WriteTimeout: metricsLimits.write, IdleTimeout: metricsLimits.idle, MaxHeaderBytes: 16 << 10}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "err", err)
		}
	}()
	log.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}
