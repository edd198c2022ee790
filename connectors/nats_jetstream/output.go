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
	"github.com/pipe-dev/pipe/connectors/internal/tmpl"
	"github.com/pipe-dev/pipe/stage"
)

// OutputConfig is the nats_jetstream output's section of a pipeline file.
type OutputConfig struct {
	natsconn.Config `yaml:",inline"`

	Subject      string        `yaml:"subject" required:"true" example:"out.{{meta.region}}" doc:"The subject to publish to: a template with {{meta.KEY}} and {{field.PATH}} (a JSON field)."`
	Stream       string        `yaml:"stream" doc:"A stream to create (with create_stream) when it does not exist; publishing needs a stream that stores the subject."`
	CreateStream *StreamSpec   `yaml:"create_stream" doc:"Create stream with these settings when it does not exist."`
	MsgID        string        `yaml:"msg_id" default:"auto" example:"'{{field.id}}'" doc:"The Nats-Msg-Id the server deduplicates on within the stream's duplicate_window: auto (derived from the source message: stream and sequence of a nats_jetstream input, topic, partition and offset of a kafka input, plus the record's index among those made from it), none, or a template."`
	Headers      bool          `yaml:"headers" default:"true" doc:"Send the record's metadata as message headers (except keys starting with nats_ or kafka_, and Nats-* headers)."`
	MaxInFlight  int           `yaml:"max_in_flight" default:"4096" doc:"Most publishes awaiting the server's acknowledgement."`
	AckTimeout   time.Duration `yaml:"ack_timeout" default:"10s" doc:"How long a batch waits for the server's acknowledgements before it counts as failed (and is retried)."`
}

// Output is the nats_jetstream output: a connector.BatchWriter that
// publishes each record and returns once the server acknowledged all of a
// batch's messages.
type Output struct {
	cfg     OutputConfig
	log     *slog.Logger
	subject tmpl.Template
	msgID   tmpl.Template
	idMode  string // auto, none, template

	conn *natsconn.Conn
	js   jetstream.JetStream

	// The source and input record number of the last record written and
	// its index among the records made from that input record (for the
	// auto msg id); advanced only when a batch is delivered, so a retried
	// batch numbers its records again the same way. A redelivered message
	// is a new input record (another number): its index starts at 0 again.
	lastSrc string
	lastNum int64
	lastIdx int
}

// NewOutput validates cfg (no I/O). key names the field of a problem.
func NewOutput(cfg OutputConfig, env connector.Env) (*Output, string, error) {
	base, key, err := natsconn.NewOutput(&cfg.Config, cfg.Subject, env)
	if err != nil {
		return nil, key, err
	}
	o := &Output{cfg: cfg, log: base.Log, subject: base.Subject}
	switch cfg.MsgID {
	case "auto", "":
		o.idMode = "auto"
	case "none":
		o.idMode = "none"
	default:
		o.idMode = "template"
		if o.msgID, err = tmpl.Parse(cfg.MsgID); err == nil {
			err = o.msgID.CheckCodec(env.TextCodec)
		}
		if err != nil {
			return nil, "msg_id", err
		}
	}
	if cfg.CreateStream != nil && cfg.Stream == "" {
		return nil, "create_stream", errors.New("create_stream needs stream: (its name)")
	}
	if cfg.MaxInFlight < 1 {
		return nil, "max_in_flight", errors.New("max_in_flight must be at least 1")
	}
	return o, "", nil
}

// Connect connects and creates the stream when asked.
func (o *Output) Connect(ctx context.Context) error {
	conn, err := natsconn.Connect(ctx, &o.cfg.Config, o.log)
	if err != nil {
		return fmt.Errorf("nats_jetstream output: %w", err)
	}
	o.conn = conn
	o.js, err = jetstream.New(conn.Conn, jetstream.WithPublishAsyncMaxPending(o.cfg.MaxInFlight))
	if err != nil {
		return fmt.Errorf("nats_jetstream output: %w", err)
	}
	if o.cfg.Stream != "" {
		if err := ensureStream(ctx, o.js, o.cfg.Stream, o.cfg.CreateStream); err != nil {
			return fmt.Errorf("nats_jetstream output: %w", err)
		}
	}
	return nil
}

// SourceID returns what identifies the input message a record came from,
// "" when it came from neither a nats_jetstream nor a kafka input.
func SourceID(rec *stage.Record) string {
	if seq, ok := rec.Lookup(MetaSequence); ok {
		return rec.Get(MetaStream) + ":" + seq
	}
	if off, ok := rec.Lookup("kafka_offset"); ok {
		return "kafka:" + rec.Get("kafka_topic") + ":" + rec.Get("kafka_partition") + ":" + off
	}
	return ""
}

// headerSkipped reports whether a metadata key stays out of the headers.
func headerSkipped(k string) bool {
	return strings.HasPrefix(k, "nats_") || strings.HasPrefix(k, "kafka_") || strings.HasPrefix(k, "Nats-") || k == ""
}

// WriteBatch implements connector.BatchWriter: it publishes every record
// (up to max_in_flight awaiting acknowledgement) and waits for the
// server's acknowledgements. A message over the server's or the stream's
// size limit, or a subject template that cannot be expanded, is a
// permanent error (the output's on_error decides); anything else is
// transient and the engine retries the batch: the Nats-Msg-Id makes the
// server drop what the first attempt already stored.
func (o *Output) WriteBatch(ctx context.Context, recs []*stage.Record) error {
	futures := make([]jetstream.PubAckFuture, 0, len(recs))
	src, num, idx := o.lastSrc, o.lastNum, o.lastIdx
	for i, rec := range recs {
		subj, err := o.subject.Expand(rec)
		if err != nil {
			return connector.Permanent(fmt.Errorf("nats_jetstream output: record %d: subject %w", i+1, err))
		}
		m := &nats.Msg{Subject: subj, Data: rec.Data}
		if o.cfg.Headers {
			m.Header = natsconn.Header(rec.Meta, headerSkipped)
		}
		var id string
		switch o.idMode {
		case "auto":
			if s := SourceID(rec); s != "" {
				if s == src && rec.Number() == num {
					idx++
				} else {
					src, num, idx = s, rec.Number(), 0
				}
				id = s + ":" + strconv.Itoa(idx)
			}
		case "template":
			if id, err = o.msgID.Expand(rec); err != nil {
				return connector.Permanent(fmt.Errorf("nats_jetstream output: record %d: msg_id %w", i+1, err))
			}
		}
		var opts []jetstream.PublishOpt
		if id != "" {
			opts = append(opts, jetstream.WithMsgID(id))
		}
		f, err := o.js.PublishMsgAsync(m, opts...)
		for errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
			// max_in_flight publishes await their acknowledgement:
			// wait for them, then go on (a loaded server is slow, not
			// failing).
			select {
			case <-o.js.PublishAsyncComplete():
			case <-ctx.Done():
				return ctx.Err()
			}
			f, err = o.js.PublishMsgAsync(m, opts...)
		}
		if err != nil {
			return o.publishErr(i+1, err)
		}
		futures = append(futures, f)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	timer := time.NewTimer(o.cfg.AckTimeout)
	defer timer.Stop()
	var first error
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			if first == nil {
				first = o.publishErr(i+1, err)
			}
		case <-timer.C:
			return fmt.Errorf("nats_jetstream output: no acknowledgement within %v (%d of %d)", o.cfg.AckTimeout, len(futures)-i, len(futures))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if first != nil {
		return first
	}
	o.lastSrc, o.lastNum, o.lastIdx = src, num, idx
	return nil
}

func (o *Output) publishErr(n int, err error) error {
	err = fmt.Errorf("nats_jetstream output: record %d: %w", n, err)
	if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, jetstream.ErrStreamMessageExceedsMaximum) || errors.Is(err, nats.ErrBadSubject) {
		return connector.Permanent(err)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum {
		return connector.Permanent(err)
	}
	return err
}

// Healthy implements connector.Health: an error while disconnected.
func (o *Output) Healthy() error { return o.conn.Healthy() }

// Close waits for outstanding publishes (bounded by ctx) and closes the
// connection.
func (o *Output) Close(ctx context.Context) error {
	if o.conn == nil || o.conn.Conn == nil {
		return nil
	}
	var err error
	if o.js != nil {
		select {
		case <-o.js.PublishAsyncComplete():
		case <-ctx.Done():
			err = fmt.Errorf("nats_jetstream output: close: %d publishes unacknowledged: %w", o.js.PublishAsyncPending(), ctx.Err())
		}
	}
	o.conn.Close()
	return err
}

var (
	_ connector.BatchWriter = (*Output)(nil)
	_ connector.Health      = (*Output)(nil)
)
