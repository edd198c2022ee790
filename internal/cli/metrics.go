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
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// stageCollector exports a pipeline's per-stage counts. It reads
// Pipeline.Stats when scraped, so the record path pays nothing for it.
// Every series carries the pipeline label (the file's name:, else its base
// name, else "filter"), so that several pipes can share one Prometheus.
type stageCollector struct {
	p        *engine.Pipeline
	pipeline string

	in, inBytes, out, dropped, failed, dead, timeouts, busy, restarts, latency *prometheus.Desc
	readBytes, totalBytes, writtenBytes                                        *prometheus.Desc
	passed, notProcessed                                                       *prometheus.Desc
}

func newStageCollector(p *engine.Pipeline, pipeline string) *stageCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("pipe_stage_"+name, help, []string{"pipeline", "stage", "kind"}, nil)
	}
	return &stageCollector{p: p, pipeline: pipeline,
		inBytes: d("bytes_in_total", "Bytes of the records that entered the stage."),
		readBytes: prometheus.NewDesc("pipe_input_bytes_read_total",
			"Bytes the input read from its files (compressed bytes for .gz and .zst, stdin when redirected from a file).", []string{"pipeline"}, nil),
		totalBytes: prometheus.NewDesc("pipe_input_bytes",
			"Total size of the input files (0 when the input is not files).", []string{"pipeline"}, nil),
		writtenBytes: prometheus.NewDesc("pipe_output_bytes_written_total",
			"Bytes the output wrote (before compression).", []string{"pipeline"}, nil),
		in:      d("records_in_total", "Records that entered the stage (input: records read)."),
		out:     d("records_out_total", "Records the stage emitted (splits count each)."),
		dropped: d("records_dropped_total", "Records the stage dropped (emitted nothing)."),
		failed:  d("records_failed_total", "Records that failed in the stage (timeouts, schema and size violations included)."),
		dead:    d("records_dead_lettered_total", "Failed records written to the dead-letter file."),
		passed:  d("records_passed_total", "Records that produced at least one output."),
		notProcessed: d("records_not_processed_total",
			"Records handed to the stage that got no outcome because the run stopped first (set when the run ends): in = passed + dropped + failed + not processed."),
		timeouts: d("timeouts_total", "Records that exceeded the stage's per-record timeout."),
		busy:     d("busy_seconds_total", "Time the stage's workers spent processing batches."),
		restarts: d("restarts_total", "Restarts of the stage's runtime (rpc plugins)."),
		latency:  d("batch_duration_seconds", "Time the stage took for one batch."),
	}
}

func (c *stageCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.in, c.inBytes, c.out, c.dropped, c.failed, c.dead, c.timeouts, c.busy, c.restarts, c.latency, c.readBytes, c.totalBytes, c.writtenBytes, c.passed, c.notProcessed} {
		ch <- d
	}
}

func (c *stageCollector) Collect(ch chan<- prometheus.Metric) {
	read, total := c.p.Progress()
	ch <- prometheus.MustNewConstMetric(c.readBytes, prometheus.CounterValue, float64(read), c.pipeline)
	ch <- prometheus.MustNewConstMetric(c.totalBytes, prometheus.GaugeValue, float64(total), c.pipeline)
	ch <- prometheus.MustNewConstMetric(c.writtenBytes, prometheus.CounterValue, float64(c.p.OutputBytes()), c.pipeline)
	for _, st := range c.p.Stats() {
		kind := st.Kind
		if kind == "" {
			kind = st.Name // input, output
		}
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, c.pipeline, st.Name, kind)
		}
		counter(c.in, float64(st.In))
		counter(c.out, float64(st.Out))
		counter(c.dropped, float64(st.Dropped))
		counter(c.failed, float64(st.Errors))
		counter(c.dead, float64(st.DeadLettered))
		counter(c.passed, float64(st.Passed))
		counter(c.notProcessed, float64(st.NotProcessed))
		if st.Name == "input" || st.Name == "output" {
			continue
		}
		counter(c.inBytes, float64(st.InBytes))
		counter(c.timeouts, float64(st.Timeouts))
		counter(c.busy, time.Duration(st.Busy).Seconds())
		counter(c.restarts, float64(st.Restarts))
		buckets := map[float64]uint64{}
		var count uint64
		for i, b := range engine.LatencyBuckets {
			if i < len(st.BatchLatency) {
				count += uint64(st.BatchLatency[i])
			}
			buckets[b.Seconds()] = count
		}
		if n := len(st.BatchLatency); n > len(engine.LatencyBuckets) {
			count += uint64(st.BatchLatency[n-1])
		}
		ch <- prometheus.MustNewConstHistogram(c.latency, count, time.Duration(st.Busy).Seconds(), buckets, c.pipeline, st.Name, kind)
	}
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
	reg := prometheus.NewRegistry()
	reg.MustRegister(newStageCollector(p, pipeline), newDeliveryCollector(p, pipeline), buildInfoGauge(), auditWriteErrors, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
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
