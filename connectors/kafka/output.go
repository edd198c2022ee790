package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connectors/internal/tmpl"
	"github.com/pipe-dev/pipe/stage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// OutputConfig is the kafka output's section of a pipeline file.
type OutputConfig struct {
	ConnConfig `yaml:",inline"`

	Topic       string        `yaml:"topic" required:"true" example:"events-{{meta.region}}" doc:"The topic: a template with {{meta.KEY}} and {{field.PATH}}."`
	Key         string        `yaml:"key" default:"'{{meta.kafka_key}}'" example:"'{{field.user_id}}'" doc:"The record key (partitioning): a template; the default takes the key of a kafka input's record; a template whose value is missing gives no key."`
	Headers     bool          `yaml:"headers" default:"true" doc:"Send the record's metadata as headers (except the kafka_* and nats_* keys the inputs set)."`
	Compression string        `yaml:"compression" default:"none" enum:"none,gzip,snappy,lz4,zstd" doc:"Batch compression."`
	Linger      time.Duration `yaml:"linger" default:"0s" doc:"How long the producer waits to fill a batch."`
	MaxInFlight int           `yaml:"max_in_flight" default:"10000" doc:"Most records buffered awaiting the brokers' acknowledgement."`
	AckTimeout  time.Duration `yaml:"ack_timeout" default:"30s" doc:"How long a batch waits for the brokers' acknowledgements before it counts as failed (and is retried)."`
}

// Output is the kafka output: an idempotent producer with acks=all; a
// batch is delivered when every record is acknowledged by all in-sync
// replicas.
type Output struct {
	cfg   OutputConfig
	log   *slog.Logger
	topic tmpl.Template
	key   tmpl.Template
	cl    *kgo.Client
}

// NewOutput validates cfg (no I/O). key names the field of a problem.
func NewOutput(cfg OutputConfig, env connector.Env) (*Output, string, error) {
	if key, err := cfg.validate(env.Resolve); err != nil {
		return nil, key, err
	}
	o := &Output{cfg: cfg, log: env.Logger}
	var err error
	if o.topic, err = tmpl.Parse(cfg.Topic); err != nil || cfg.Topic == "" {
		if err == nil {
			err = errors.New("a topic is needed")
		}
		return nil, "topic", err
	}
	if err := o.topic.CheckCodec(env.TextCodec); err != nil {
		return nil, "topic", err
	}
	if o.key, err = tmpl.Parse(cfg.Key); err != nil {
		return nil, "key", err
	}
	if err := o.key.CheckCodec(env.TextCodec); err != nil {
		return nil, "key", err
	}
	if cfg.MaxInFlight < 1 {
		return nil, "max_in_flight", errors.New("max_in_flight must be at least 1")
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return o, "", nil
}

// Connect makes the producer and checks the cluster answers.
func (o *Output) Connect(ctx context.Context) error {
	opts, err := o.cfg.options()
	if err != nil {
		return fmt.Errorf("kafka output: %w", err)
	}
	opts = append(opts,
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent writes need acks=all (franz-go's default)
		kgo.MaxBufferedRecords(o.cfg.MaxInFlight),
		kgo.ProducerLinger(o.cfg.Linger),
		kgo.RecordDeliveryTimeout(o.cfg.AckTimeout),
	)
	switch o.cfg.Compression {
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	}
	o.cl, err = connect(ctx, o.cfg.Brokers, opts, o.cfg.ConnectTimeout, o.log)
	if err != nil {
		return fmt.Errorf("kafka output: %w", err)
	}
	return nil
}

func headerSkipped(k string) bool {
	return strings.HasPrefix(k, "kafka_") || strings.HasPrefix(k, "nats_") || k == ""
}

// WriteBatch implements connector.BatchWriter: it produces every record and
// waits until all are acknowledged. A record too large for the brokers, a
// topic that cannot be made from the template, or an authorization error
// is permanent; other errors are transient (the engine retries the batch;
// records of the first attempt that were written appear twice).
func (o *Output) WriteBatch(ctx context.Context, recs []*stage.Record) error {
	krecs := make([]*kgo.Record, len(recs))
	for i, rec := range recs {
		topic, err := o.topic.Expand(rec)
		if err != nil {
			return connector.Permanent(fmt.Errorf("kafka output: record %d: topic %w", i+1, err))
		}
		kr := &kgo.Record{Topic: topic, Value: rec.Data}
		if !o.key.IsZero() {
			if k, err := o.key.Expand(rec); err == nil {
				kr.Key = []byte(k)
			} else if !errors.Is(err, tmpl.ErrMissing) {
				return connector.Permanent(fmt.Errorf("kafka output: record %d: key %w", i+1, err))
			}
		}
		if o.cfg.Headers {
			for k, v := range rec.Meta {
				if !headerSkipped(k) {
					kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: k, Value: []byte(v)})
				}
			}
		}
		krecs[i] = kr
	}
	res := o.cl.ProduceSync(ctx, krecs...)
	for _, r := range res { // in the order they completed
		if r.Err != nil {
			err := fmt.Errorf("kafka output: produce to %s: %w", r.Record.Topic, r.Err)
			if errors.Is(r.Err, kerr.MessageTooLarge) || errors.Is(r.Err, kerr.RecordListTooLarge) ||
				errors.Is(r.Err, kerr.TopicAuthorizationFailed) || errors.Is(r.Err, kerr.InvalidTopicException) || errors.Is(r.Err, kerr.InvalidRecord) {
				return connector.Permanent(err)
			}
			return err
		}
	}
	return nil
}

// Close flushes what is buffered (bounded by ctx) and closes the client.
func (o *Output) Close(ctx context.Context) error {
	if o.cl == nil {
		return nil
	}
	err := o.cl.Flush(ctx)
	o.cl.Close()
	if err != nil {
		return fmt.Errorf("kafka output: flush on close: %w", err)
	}
	return nil
}

var _ connector.BatchWriter = (*Output)(nil)
