package natsjetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connectors/internal/natsconn"
	"github.com/pipe-dev/pipe/stage"
)

// InputConfig is the nats_jetstream input's section of a pipeline file.
type InputConfig struct {
	natsconn.Config `yaml:",inline"`

	Stream       string      `yaml:"stream" required:"true" example:"ORDERS" doc:"The stream to consume."`
	CreateStream *StreamSpec `yaml:"create_stream" doc:"Create the stream with these settings when it does not exist (without it, a missing stream fails the run)."`
	Durable      string      `yaml:"durable" required:"true" example:"pipe-orders" doc:"The durable pull consumer; replicas with the same durable share the work."`
	BindConsumer bool        `yaml:"bind_consumer" default:"false" doc:"Use the consumer as it exists (fail when missing) instead of creating or updating it from these settings."`
	Subjects     []string    `yaml:"subjects" example:"[orders.eu.>]" doc:"Subject filters of the consumer (default: every subject of the stream)."`

	Deliver       string        `yaml:"deliver" default:"all" enum:"all,new,last,last_per_subject,by_sequence,by_time" doc:"Where a new consumer starts: all, new (only messages published from now), last, last_per_subject, by_sequence (start_sequence) or by_time (start_time)."`
	StartSequence uint64        `yaml:"start_sequence" doc:"The first stream sequence, with deliver: by_sequence."`
	StartTime     string        `yaml:"start_time" example:"2026-01-02T15:04:05Z" doc:"The first message time (RFC 3339), with deliver: by_time."`
	AckPolicy     string        `yaml:"ack_policy" default:"explicit" enum:"explicit,all" doc:"explicit: every message is acknowledged (safe with replicas); all: one acknowledgement per batch covers every earlier message of the consumer (one replica only)."`
	AckWait       time.Duration `yaml:"ack_wait" default:"30s" doc:"How long the server waits for an acknowledgement before it redelivers a message (to any replica); set it above the pipeline's worst latency."`
	MaxAckPending int           `yaml:"max_ack_pending" default:"4096" doc:"Messages delivered but not yet acknowledged, across replicas: the back-pressure limit."`
	MaxDeliver    int           `yaml:"max_deliver" default:"-1" doc:"Deliveries of one message before the server gives up on it (-1: no limit)."`
	NakDelay      time.Duration `yaml:"nak_delay" default:"0s" doc:"How long the server waits before redelivering a message that was not delivered (a record failed under on_error: fail, the output gave up)."`
	BatchSize     int           `yaml:"batch_size" default:"512" doc:"Most messages per batch handed to the pipeline (and pulled per request)."`
	Linger        time.Duration `yaml:"linger" default:"2ms" doc:"How long a batch waits for more messages once it has one."`
}

// StreamSpec are the settings of a stream created by the connector.
type StreamSpec struct {
	Subjects        []string      `yaml:"subjects" doc:"The subjects the stream stores (default: the stream name, lower-cased, and .>)."`
	Storage         string        `yaml:"storage" default:"file" enum:"file,memory" doc:"Where the server keeps the messages."`
	Retention       string        `yaml:"retention" default:"limits" enum:"limits,workqueue,interest" doc:"When messages are removed: by limits only, once acknowledged (workqueue), or once every consumer has them (interest)."`
	MaxBytes        int64         `yaml:"max_bytes" default:"-1" doc:"Most bytes the stream keeps (-1: no limit)."`
	MaxMsgs         int64         `yaml:"max_msgs" default:"-1" doc:"Most messages the stream keeps (-1: no limit)."`
	MaxAge          time.Duration `yaml:"max_age" default:"0s" doc:"Oldest message the stream keeps (0: no limit)."`
	MaxMsgSize      int32         `yaml:"max_msg_size" default:"-1" doc:"Largest message the stream accepts (-1: the server's max_payload)."`
	DuplicateWindow time.Duration `yaml:"duplicate_window" default:"2m" doc:"How long the server remembers Nats-Msg-Id values to drop duplicates."`
	Replicas        int           `yaml:"replicas" default:"1" doc:"Copies of the stream in a cluster."`
}

func (s *StreamSpec) config(name string) jetstream.StreamConfig {
	c := jetstream.StreamConfig{
		Name: name, Subjects: s.Subjects, MaxBytes: s.MaxBytes, MaxMsgs: s.MaxMsgs, MaxAge: s.MaxAge,
		MaxMsgSize: s.MaxMsgSize, Duplicates: s.DuplicateWindow, Replicas: max(s.Replicas, 1),
	}
	if len(c.Subjects) == 0 {
		c.Subjects = []string{strings.ToLower(name) + ".>"}
	}
	if s.Storage == "memory" {
		c.Storage = jetstream.MemoryStorage
	}
	switch s.Retention {
	case "workqueue":
		c.Retention = jetstream.WorkQueuePolicy
	case "interest":
		c.Retention = jetstream.InterestPolicy
	}
	return c
}

// Input is the nats_jetstream input: a connector.BatchReader over a durable
// pull consumer. Each message is one record: its data, its headers as
// metadata (the first value of each), and nats_subject, nats_stream,
// nats_sequence, nats_delivered and nats_timestamp.
type Input struct {
	cfg   InputConfig
	log   *slog.Logger
	stats connector.Stats
	start time.Time

	conn *natsconn.Conn
	cons jetstream.Consumer
	it   jetstream.MessagesContext
}

// NewInput validates cfg (no I/O). key names the field of a problem.
func NewInput(cfg InputConfig, env connector.Env) (*Input, string, error) {
	if key, err := cfg.Config.Validate(env.Resolve); err != nil {
		return nil, key, err
	}
	if cfg.Stream == "" || strings.ContainsAny(cfg.Stream, ". *>") {
		return nil, "stream", fmt.Errorf("stream %q: a name without spaces, dots, * or >", cfg.Stream)
	}
	if cfg.Durable == "" || strings.ContainsAny(cfg.Durable, ". *>") {
		return nil, "durable", fmt.Errorf("durable %q: a name without spaces, dots, * or >", cfg.Durable)
	}
	in := &Input{cfg: cfg, log: env.Logger, stats: env.Stats}
	switch cfg.Deliver {
	case "by_sequence":
		if cfg.StartSequence == 0 {
			return nil, "start_sequence", errors.New("deliver: by_sequence needs start_sequence (1 or more)")
		}
	case "by_time":
		if cfg.StartTime == "" {
			return nil, "start_time", errors.New("deliver: by_time needs start_time (RFC 3339, e.g. 2026-01-02T15:04:05Z)")
		}
		t, err := time.Parse(time.RFC3339Nano, cfg.StartTime)
		if err != nil {
			return nil, "start_time", fmt.Errorf("deliver: by_time needs start_time in RFC 3339: %w", err)
		}
		in.start = t
	}
	if cfg.MaxAckPending < 1 {
		return nil, "max_ack_pending", errors.New("max_ack_pending must be at least 1")
	}
	if cfg.BatchSize < 1 {
		return nil, "batch_size", errors.New("batch_size must be at least 1")
	}
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	return in, "", nil
}

func (in *Input) consumerConfig() jetstream.ConsumerConfig {
	c := in.cfg
	cc := jetstream.ConsumerConfig{
		Durable: c.Durable, AckPolicy: jetstream.AckExplicitPolicy, AckWait: c.AckWait,
		MaxAckPending: c.MaxAckPending, MaxDeliver: c.MaxDeliver,
	}
	if c.AckPolicy == "all" {
		cc.AckPolicy = jetstream.AckAllPolicy
	}
	switch len(c.Subjects) {
	case 0:
	case 1:
		cc.FilterSubject = c.Subjects[0]
	default:
		cc.FilterSubjects = c.Subjects
	}
	switch c.Deliver {
	case "new":
		cc.DeliverPolicy = jetstream.DeliverNewPolicy
	case "last":
		cc.DeliverPolicy = jetstream.DeliverLastPolicy
	case "last_per_subject":
		cc.DeliverPolicy = jetstream.DeliverLastPerSubjectPolicy
	case "by_sequence":
		cc.DeliverPolicy, cc.OptStartSeq = jetstream.DeliverByStartSequencePolicy, c.StartSequence
	case "by_time":
		t := in.start
		cc.DeliverPolicy, cc.OptStartTime = jetstream.DeliverByStartTimePolicy, &t
	}
	return cc
}

// ErrStreamNotFound is wrapped by Connect's error when the stream does not
// exist and create_stream is not set.
var ErrStreamNotFound = jetstream.ErrStreamNotFound

// Connect connects (retrying for connect_timeout), finds or creates the
// stream, creates or binds the durable consumer and starts pulling.
func (in *Input) Connect(ctx context.Context) error {
	conn, err := natsconn.Connect(ctx, &in.cfg.Config, in.log)
	if err != nil {
		return fmt.Errorf("nats_jetstream input: %w", err)
	}
	in.conn = conn
	if in.stats != nil {
		conn.SetReconnectHandler(func(*nats.Conn) { in.stats.Event("reconnects"); in.log.Info("nats reconnected") })
	}
	js, err := jetstream.New(conn.Conn)
	if err != nil {
		return fmt.Errorf("nats_jetstream input: %w", err)
	}
	if err := ensureStream(ctx, js, in.cfg.Stream, in.cfg.CreateStream); err != nil {
		return fmt.Errorf("nats_jetstream input: %w", err)
	}
	if in.cfg.BindConsumer {
		in.cons, err = js.Consumer(ctx, in.cfg.Stream, in.cfg.Durable)
	} else {
		in.cons, err = js.CreateOrUpdateConsumer(ctx, in.cfg.Stream, in.consumerConfig())
	}
	if err != nil {
		return fmt.Errorf("nats_jetstream input: consumer %s on stream %s: %w", in.cfg.Durable, in.cfg.Stream, err)
	}
	in.it, err = in.cons.Messages(jetstream.PullMaxMessages(pullBuffer(in.cfg.BatchSize, in.cfg.MaxAckPending)), jetstream.PullHeartbeat(5*time.Second))
	if err != nil {
		return fmt.Errorf("nats_jetstream input: pull from %s: %w", in.cfg.Durable, err)
	}
	return nil
}

// ensureStream returns nil when the stream exists, creating it from spec
// when it does not and spec is not nil.
func ensureStream(ctx context.Context, js jetstream.JetStream, name string, spec *StreamSpec) error {
	_, err := js.Stream(ctx, name)
	if err == nil {
		return nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("stream %s: %w", name, err)
	}
	if spec == nil {
		return fmt.Errorf("stream %s: %w (give create_stream: to create it)", name, err)
	}
	_, err = js.CreateStream(ctx, spec.config(name))
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another replica was first
		err = nil
	}
	if err != nil {
		return fmt.Errorf("create stream %s: %w", name, err)
	}
	return nil
}

// ReadBatch implements connector.BatchReader: it blocks for the first
// message, then takes what arrives within linger, up to batch_size. The
// acknowledgement acks every message (ack_policy: explicit) or the last
// one (all) when the batch was delivered, and naks them (after nak_delay)
// when it was not, so that the server redelivers them, to this replica or
// another.
func (in *Input) ReadBatch(ctx context.Context) (connector.Batch, connector.AckFunc, error) {
	msg, err := in.it.Next(jetstream.NextContext(ctx))
	if err != nil {
		if ctx.Err() != nil {
			return connector.Batch{}, nil, ctx.Err()
		}
		return connector.Batch{}, nil, fmt.Errorf("nats_jetstream input: %s: %w", in.cfg.Durable, err)
	}
	msgs := make([]jetstream.Msg, 1, in.cfg.BatchSize)
	msgs[0] = msg
	linger := max(in.cfg.Linger, time.Microsecond)
	for len(msgs) < in.cfg.BatchSize {
		m, err := in.it.Next(jetstream.NextMaxWait(linger))
		if err != nil { // a timeout, or an error the next call returns again
			break
		}
		msgs = append(msgs, m)
	}
	recs := make([]*stage.Record, len(msgs))
	for i, m := range msgs {
		recs[i] = record(m)
	}
	return connector.Batch{Records: recs}, in.acker(msgs), nil
}

func (in *Input) acker(msgs []jetstream.Msg) connector.AckFunc {
	return func(ctx context.Context, failed error) error {
		var errs []error
		switch {
		case failed != nil:
			for _, m := range msgs {
				var err error
				if in.cfg.NakDelay > 0 {
					err = m.NakWithDelay(in.cfg.NakDelay)
				} else {
					err = m.Nak()
				}
				errs = append(errs, err)
			}
		case in.cfg.AckPolicy == "all":
			errs = append(errs, msgs[len(msgs)-1].Ack())
		default:
			for _, m := range msgs {
				errs = append(errs, m.Ack())
			}
		}
		if err := errors.Join(errs...); err != nil {
			return fmt.Errorf("nats_jetstream input: acknowledge: %w", err)
		}
		return nil
	}
}

// record makes the record of a message.
func record(m jetstream.Msg) *stage.Record {
	h := m.Headers()
	meta := make(map[string]string, len(h)+5)
	for k, v := range h {
		if len(v) > 0 {
			meta[k] = v[0]
		}
	}
	meta[MetaSubject] = m.Subject()
	if md, err := m.Metadata(); err == nil {
		meta[MetaStream] = md.Stream
		meta[MetaSequence] = strconv.FormatUint(md.Sequence.Stream, 10)
		meta[MetaDelivered] = strconv.FormatUint(md.NumDelivered, 10)
		meta[MetaTimestamp] = md.Timestamp.UTC().Format(time.RFC3339Nano)
	}
	return &stage.Record{Data: m.Data(), Meta: meta}
}

// The metadata keys the input sets besides the message's headers.
const (
	MetaSubject   = "nats_subject"
	MetaStream    = "nats_stream"
	MetaSequence  = "nats_sequence"  // the stream sequence
	MetaDelivered = "nats_delivered" // deliveries of the message so far (1 the first time)
	MetaTimestamp = "nats_timestamp" // when the stream stored it, RFC 3339
)

// Healthy implements connector.Health: an error while disconnected.
func (in *Input) Healthy() error { return in.conn.Healthy() }

// Close stops pulling, flushes outstanding acknowledgements and closes the
// connection.
func (in *Input) Close(ctx context.Context) error {
	if in.it != nil {
		in.it.Stop()
	}
	if in.conn == nil || in.conn.Conn == nil {
		return nil
	}
	var err error
	if in.conn.IsConnected() {
		if d, ok := ctx.Deadline(); ok {
			err = in.conn.FlushTimeout(max(time.Until(d), time.Millisecond))
		} else {
			err = in.conn.FlushTimeout(5 * time.Second)
		}
	}
	in.conn.Close()
	if err != nil {
		return fmt.Errorf("nats_jetstream input: flush acknowledgements: %w", err)
	}
	return nil
}

var (
	_ connector.BatchReader = (*Input)(nil)
	_ connector.Health      = (*Input)(nil)
)

// pullBuffer is how many messages the client asks the server for ahead of
// the pipeline: a few batches, so that the next batch is there when the
// pipeline takes it, and never more than max_ack_pending (the server does
// not hand out more anyway).
func pullBuffer(batch, maxAckPending int) int {
	return max(2, min(4*batch, max(maxAckPending, batch)))
}
