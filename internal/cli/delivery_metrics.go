package cli

import (
	"github.com/pipe-dev/pipe/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// deliveryCollector exports a pipeline's delivery state: acknowledgements,
// the watermark, output retries and connector events. Like stageCollector
// it reads the pipeline when scraped.
type deliveryCollector struct {
	p        *engine.Pipeline
	pipeline string

	acked, nacked, ackErrors, watermark, pending, retries, failing, events *prometheus.Desc
}

func newDeliveryCollector(p *engine.Pipeline, pipeline string) *deliveryCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, append([]string{"pipeline"}, labels...), nil)
	}
	return &deliveryCollector{p: p, pipeline: pipeline,
		acked:     d("pipe_input_records_acked_total", "Input records acknowledged to their source as delivered (written, dropped or dead-lettered)."),
		nacked:    d("pipe_input_records_nacked_total", "Input records acknowledged as not delivered (the run failed or stopped first)."),
		ackErrors: d("pipe_input_ack_errors_total", "Acknowledgements the input could not pass on (its records may be delivered again)."),
		watermark: d("pipe_input_ack_watermark", "Number of the last input record acknowledged: every record up to it was delivered."),
		pending:   d("pipe_input_acks_pending", "Input batches read but not acknowledged yet."),
		retries:   d("pipe_output_retries_total", "Output attempts that failed and were retried."),
		failing:   d("pipe_output_failing", "1 while the output retries a failed write (then /readyz is false)."),
		events:    d("pipe_connector_events_total", "Events the input and output reported (file rotations, checkpoints written, reconnects).", "event"),
	}
}

func (c *deliveryCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.acked, c.nacked, c.ackErrors, c.watermark, c.pending, c.retries, c.failing, c.events} {
		ch <- d
	}
}

func (c *deliveryCollector) Collect(ch chan<- prometheus.Metric) {
	d := c.p.Delivery()
	metric := func(desc *prometheus.Desc, t prometheus.ValueType, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, t, v, append([]string{c.pipeline}, labels...)...)
	}
	metric(c.acked, prometheus.CounterValue, float64(d.Acked))
	metric(c.nacked, prometheus.CounterValue, float64(d.Nacked))
	metric(c.ackErrors, prometheus.CounterValue, float64(d.AckErrors))
	metric(c.watermark, prometheus.GaugeValue, float64(d.Watermark))
	metric(c.pending, prometheus.GaugeValue, float64(d.PendingAcks))
	metric(c.retries, prometheus.CounterValue, float64(d.Retries))
	failing := 0.0
	if d.OutputFailing {
		failing = 1
	}
	metric(c.failing, prometheus.GaugeValue, failing)
	for name, n := range d.Events {
		metric(c.events, prometheus.CounterValue, float64(n), name)
	}
}
