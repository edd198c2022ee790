// Package natsjetstream is the nats_jetstream input and output: a durable
// pull consumer whose messages are acknowledged only after the pipeline
// delivered what came of them, and a publisher that waits for the server's
// acknowledgement and sets Nats-Msg-Id so that the server drops a
// re-published duplicate.
//
// # Delivery
//
// At least once; effectively once into a JetStream output within the output
// stream's duplicate window. A message is acked when the engine acknowledges
// its batch: every record made from it was published (and acknowledged by
// the server), dropped, or dead-lettered with the line flushed. When the
// batch was not delivered (a record failed under on_error: fail, the output
// gave up, the run was stopped before writing it) its messages are naked,
// and the server redelivers them after nak_delay, to this replica or
// another. A replica killed with messages in flight never acks them: the
// server redelivers them after ack_wait.
//
// # Scale-out
//
// Replicas of the same pipeline file bind the same durable consumer and
// share its messages; max_ack_pending bounds what is in flight across all
// of them. Use ack_policy: explicit (the default) with more than one
// replica: ack_policy: all acknowledges every earlier message of the
// consumer, also those another replica is still working on.
package natsjetstream

import (
	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connectors/internal/ctor"
	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterInput(InputType())
	engine.RegisterOutput(OutputType())
}

// InputType is the registration of the nats_jetstream input.
func InputType() connector.InputType {
	return connector.InputType{
		Name:    "nats_jetstream",
		Summary: "consume a NATS JetStream stream through a durable pull consumer (replicas share it)",
		Doc:     inputDoc,
		Config:  InputConfig{},
		Examples: []connector.Example{{Title: "a work queue shared by replicas",
			YAML: "input:\n  type: nats_jetstream\n  codec: ndjson\n  urls: [nats://127.0.0.1:4222]\n  stream: EVENTS\n  durable: pipe-events\n  create_stream: {subjects: [events.>]}\n  max_ack_pending: 4096"}},
		New: ctor.Input(NewInput),
	}
}

// OutputType is the registration of the nats_jetstream output.
func OutputType() connector.OutputType {
	return connector.OutputType{
		Name:    "nats_jetstream",
		Summary: "publish to NATS JetStream, acknowledged by the server, deduplicated by Nats-Msg-Id",
		Doc:     outputDoc,
		Config:  OutputConfig{},
		Examples: []connector.Example{{Title: "publish by region, deduplicated",
			YAML: "output:\n  type: nats_jetstream\n  codec: ndjson\n  urls: [nats://127.0.0.1:4222]\n  subject: out.{{meta.region}}\n  stream: OUT\n  create_stream: {subjects: [out.>], duplicate_window: 5m}"}},
		New: ctor.Output(NewOutput),
	}
}

const inputDoc = `Each message is one record: its data, and as metadata its headers (the
first value of each) plus nats_subject, nats_stream, nats_sequence (the
stream sequence), nats_delivered (1 the first time) and nats_timestamp.

A message is acknowledged after the pipeline delivered everything made from
it (written by the output, dropped, or dead-lettered with the line
flushed). A batch that was not delivered (a record failed under
on_error: fail, the output gave up) is negatively acknowledged (nak, after
nak_delay), so the server redelivers it, to this replica or another;
max_deliver bounds how often. A record the codec rejects (malformed JSON
under ndjson) takes the input's on_error: under drop and dead_letter its
message is acknowledged, under fail it is naked and the run fails.

Replicas running the same pipeline file bind the same durable consumer and
share its messages (a work queue); max_ack_pending is the back-pressure
limit across all of them. /readyz is false while the connection is down;
the client reconnects for ever with backoff (reconnect_wait up to
max_reconnect_wait).`

const outputDoc = `Publishes each record and waits for the server's acknowledgement of the
whole batch (up to max_in_flight publishes outstanding) before the engine
acknowledges the inputs. The record's metadata become headers (headers:
true), except the nats_* and kafka_* keys the inputs set.

With msg_id: auto a record made from a nats_jetstream (or kafka) input
message gets a Nats-Msg-Id of the source (stream and sequence) and its
index among the records made from it: when a message is redelivered and
processed again, by this replica or another, the stream drops the second
copy if it arrives within its duplicate_window (effectively once, end to
end, within that window).

A record over the server's max_payload or the stream's max_msg_size, or
whose subject template references a missing value, fails the batch for
good (the output's on_error decides); other errors (no stream answered, a
timeout, a disconnection) are retried by the engine.`
