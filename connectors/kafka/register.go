package kafka

import (
	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connectors/internal/ctor"
	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterInput(InputType())
	engine.RegisterOutput(OutputType())
}

// InputType is the registration of the kafka input.
func InputType() connector.InputType {
	return connector.InputType{
		Name:    "kafka",
		Summary: "consume Kafka topics in a consumer group (replicas share the partitions); offsets committed after delivery",
		Doc:     inputDoc,
		Config:  InputConfig{},
		Examples: []connector.Example{{Title: "a consumer group shared by replicas",
			YAML: "input:\n  type: kafka\n  codec: ndjson\n  brokers: [127.0.0.1:9092]\n  topics: [events]\n  group: pipe-events"}},
		New: ctor.Input(NewInput),
	}
}

// OutputType is the registration of the kafka output.
func OutputType() connector.OutputType {
	return connector.OutputType{
		Name:    "kafka",
		Summary: "produce to Kafka with an idempotent producer (acks=all); key and headers from metadata",
		Doc:     outputDoc,
		Config:  OutputConfig{},
		Examples: []connector.Example{{Title: "keyed by a field",
			YAML: "output:\n  type: kafka\n  codec: ndjson\n  brokers: [127.0.0.1:9092]\n  topic: events-clean\n  key: '{{field.user_id}}'"}},
		New: ctor.Output(NewOutput),
	}
}

const inputDoc = `Each Kafka record is one pipeline record: its value, and as metadata its
headers plus kafka_topic, kafka_partition, kafka_offset, kafka_key (when it
has a key) and kafka_timestamp. Records of a partition reach the output in
offset order.

Offsets are committed only for records whose batch the pipeline delivered
(written, dropped, or dead-lettered with the line flushed), every
commit_interval, when partitions are revoked (after the batches in flight
were acknowledged) and on close: a committed offset is never ahead of the
output. A batch that was not delivered (a record failed under
on_error: fail) is not committed; the group reads it again after a restart.
Replicas with the same group share the partitions.

Tested against franz-go's kfake (an in-memory Kafka) only: no Apache Kafka
or Redpanda server was available where pipe is developed.`

const outputDoc = `An idempotent producer with acks=all: a batch is delivered when every
record is acknowledged by all in-sync replicas. The key comes from the key
template (default: the kafka_key metadata of a kafka input's record), the
headers from the record's metadata (except kafka_* and nats_* keys).

A record over the broker's size limit or a topic template that references
a missing value fails the batch for good (the output's on_error decides);
other errors are retried by the engine, and a retried batch may write some
records twice (Kafka has no cross-producer deduplication).

Templates start with {{, which YAML reads as a mapping: quote them
(key: '{{field.id}}'). Under the csv and logfmt codecs the output is handed
each record as its encoded line: {{field.PATH}} is refused there (pipe
lint), {{meta.KEY}} works.

Tested against franz-go's kfake (an in-memory Kafka) only.`
