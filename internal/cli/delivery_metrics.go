package cli

import "github.com/pipe-dev/pipe/engine"

// deliveryCollector exports a pipeline's delivery state: acknowledgements,
// the watermark, output retries and connector events. Like stageCollector
// it reads the pipeline when scraped.
type deliveryCollector struct {
	p        *engine.Pipeline
	pipeline string
}

func newDeliveryCollector(p *engine.Pipeline, pipeline string) *deliveryCollector {
	return &deliveryCollector{p: p, pipeline: pipeline}
}

func (c *deliveryCollector) collect(s *promSet) {
	d := c.p.Delivery()
	metric := func(name, help, typ string, v float64, labels ...string) {
		s.add(name, help, typ, v, append([]string{"pipeline", c.pipeline}, labels...)...)
	}
	metric("pipe_input_records_acked_total", "Input records acknowledged to their source as delivered (written, dropped or dead-lettered).", promCounter, float64(d.Acked))
	metric("pipe_input_records_nacked_total", "Input records acknowledged as not delivered (the run failed or stopped first).", promCounter, float64(d.Nacked))
	metric("pipe_input_ack_errors_total", "Acknowledgements the input could not pass on (its records may be delivered again).", promCounter, float64(d.AckErrors))
	metric("pipe_input_ack_watermark", "Number of the last input record acknowledged: every record up to it was delivered.", promGauge, float64(d.Watermark))
	metric("pipe_input_acks_pending", "Input batches read but not acknowledged yet.", promGauge, float64(d.PendingAcks))
	metric("pipe_output_retries_total", "Output attempts that failed and were retried.", promCounter, float64(d.Retries))
	failing := 0.0
	if d.OutputFailing {
		failing = 1
	}
	metric("pipe_output_failing", "1 while the output retries a failed write (then /readyz is false).", promGauge, failing)
	for name, n := range d.Events {
		metric("pipe_connector_events_total", "Events the input and output reported (file rotations, checkpoints written, reconnects).", promCounter, float64(n), "event", name)
	}
}
