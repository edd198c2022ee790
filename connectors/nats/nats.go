// Package nats is the nats input and output: NATS core publish and
// subscribe, at most once. The input subscribes (in a queue group, so that
// replicas share the messages) and has nothing to acknowledge: a message
// is lost when the process dies with it in flight, or when the pipeline
// falls behind by more than pending_limit messages (the server's slow
// consumer rule). Use nats_jetstream for at-least-once delivery.
package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connectors/internal/ctor"
	"github.com/pipe-dev/pipe/connectors/internal/natsconn"
	"github.com/pipe-dev/pipe/connectors/internal/tmpl"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stage"
)

func init() {
	engine.RegisterInput(InputType())
	engine.RegisterOutput(OutputType())
}

// InputConfig is the nats input's section of a pipeline file.
type InputConfig struct {
	natsconn.Config `yaml:",inline"`

	Subjects     []string      `yaml:"subjects" required:"true" example:"[logs.>]" doc:"The subjects to subscribe to (wildcards * and > allowed)."`
	Queue        string        `yaml:"queue" example:"pipe" doc:"A queue group: replicas with the same queue share the messages (each goes to one of them); without it every replica gets every message."`
	PendingLimit int           `yaml:"pending_limit" default:"65536" doc:"Messages buffered while the pipeline is busy; past it the client drops messages (at most once) and logs a slow-consumer error."`
	BatchSize    int           `yaml:"batch_size" default:"512" doc:"Most messages per batch handed to the pipeline."`
	Linger       time.Duration `yaml:"linger" default:"2ms" doc:"How long a batch waits for more messages once it has one."`
}

// OutputConfig is the nats output's section of a pipeline file.
type OutputConfig struct {
	natsconn.Config `yaml:",inline"`

	Subject      string        `yaml:"subject" required:"true" example:"alerts.{{meta.region}}" doc:"The subject: a template with {{meta.KEY}} and {{field.PATH}}."`
	Headers      bool          `yaml:"headers" default:"true" doc:"Send the record's metadata as headers (except the nats_* and kafka_* keys the inputs set)."`
	FlushTimeout time.Duration `yaml:"flush_timeout" default:"10s" doc:"How long a batch waits for the server to confirm it received the batch's messages (a round trip; not a delivery guarantee to subscribers)."`
}

// The metadata key the input sets besides the message's headers.
const MetaSubject = "nats_subject"

// Input is the nats input.
type Input struct {
	cfg  InputConfig
	log  *slog.Logger
	conn *natsconn.Conn
	ch   chan *nats.Msg
	subs []*nats.Subscription
}

// Output is the nats output.
type Output struct {
	cfg     OutputConfig
	log     *slog.Logger
	subject tmpl.Template
	conn    *natsconn.Conn
}

// InputType is the registration of the nats input.
func InputType() connector.InputType {
	return connector.InputType{
		Name:    "nats",
		Summary: "subscribe to NATS core subjects (at most once; a queue group shares them among replicas)",
		Doc:     "Each message is one record: its data, its headers as metadata (the first value of each) and nats_subject. Nothing is acknowledged: NATS core delivers at most once, so a message in flight when the process dies, or dropped because the pipeline fell pending_limit messages behind, is lost. Use nats_jetstream for at-least-once delivery.",
		Config:  InputConfig{},
		Examples: []connector.Example{{Title: "share a subject among replicas",
			YAML: "input:\n  type: nats\n  codec: ndjson\n  urls: [nats://127.0.0.1:4222]\n  subjects: [logs.>]\n  queue: pipe"}},
		New: ctor.Input(NewInput),
	}
}

// OutputType is the registration of the nats output.
func OutputType() connector.OutputType {
	return connector.OutputType{
		Name:    "nats",
		Summary: "publish to NATS core subjects (at most once)",
		Doc:     "Publishes each record to the subject template; a batch counts as written once the server confirmed it received the batch (a flush round trip). NATS core does not store messages: subscribers that are not there miss them.",
		Config:  OutputConfig{},
		Examples: []connector.Example{{Title: "publish alerts by region",
			YAML: "output:\n  type: nats\n  urls: [nats://127.0.0.1:4222]\n  subject: alerts.{{meta.region}}"}},
		New: ctor.Output(NewOutput),
	}
}

// NewInput validates cfg (no I/O). key names the field of a problem.
func NewInput(cfg InputConfig, env connector.Env) (*Input, string, error) {
	if key, err := cfg.Config.Validate(env.Resolve); err != nil {
		return nil, key, err
	}
	if len(cfg.Subjects) == 0 {
		return nil, "subjects", errors.New("at least one subject is needed")
	}
	for _, s := range cfg.Subjects {
		if s == "" || strings.ContainsAny(s, " \t") {
			return nil, "subjects", fmt.Errorf("subject %q is not valid", s)
		}
	}
	if cfg.BatchSize < 1 || cfg.PendingLimit < 1 {
		return nil, "batch_size", errors.New("batch_size and pending_limit must be at least 1")
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Input{cfg: cfg, log: log}, "", nil
}

// Connect connects and subscribes.
func (in *Input) Connect(ctx context.Context) error {
	conn, err := natsconn.Connect(ctx, &in.cfg.Config, in.log)
	if err != nil {
		return fmt.Errorf("nats input: %w", err)
	}
	in.conn = conn
	in.ch = make(chan *nats.Msg, in.cfg.PendingLimit)
	for _, s := range in.cfg.Subjects {
		sub, err := conn.ChanQueueSubscribe(s, in.cfg.Queue, in.ch)
		if err != nil {
			return fmt.Errorf("nats input: subscribe %s: %w", s, err)
		}
		sub.SetPendingLimits(in.cfg.PendingLimit, -1)
		in.subs = append(in.subs, sub)
	}
	if err := conn.Flush(); err != nil { // the subscriptions are registered
		return fmt.Errorf("nats input: %w", err)
	}
	return nil
}

// ReadBatch implements connector.BatchReader; its acknowledgements do
// nothing (at most once).
func (in *Input) ReadBatch(ctx context.Context) (connector.Batch, connector.AckFunc, error) {
	var first *nats.Msg
	select {
	case first = <-in.ch:
	case <-ctx.Done():
		return connector.Batch{}, nil, ctx.Err()
	}
	recs := make([]*stage.Record, 1, in.cfg.BatchSize)
	recs[0] = record(first)
	timer := time.NewTimer(max(in.cfg.Linger, time.Microsecond))
	defer timer.Stop()
fill:
	for len(recs) < in.cfg.BatchSize {
		select {
		case m := <-in.ch:
			recs = append(recs, record(m))
		default:
			select {
			case m := <-in.ch:
				recs = append(recs, record(m))
			case <-timer.C:
				break fill
			case <-ctx.Done():
				break fill
			}
		}
	}
	return connector.Batch{Records: recs}, func(context.Context, error) error { return nil }, nil
}

func record(m *nats.Msg) *stage.Record {
	meta := make(map[string]string, len(m.Header)+1)
	for k, v := range m.Header {
		if len(v) > 0 {
			meta[k] = v[0]
		}
	}
	meta[MetaSubject] = m.Subject
	return &stage.Record{Data: m.Data, Meta: meta}
}

// Healthy implements connector.Health.
func (in *Input) Healthy() error { return in.conn.Healthy() }

// Close unsubscribes and closes the connection.
func (in *Input) Close(context.Context) error {
	if in.conn == nil || in.conn.Conn == nil {
		return nil
	}
	for _, s := range in.subs {
		s.Unsubscribe()
	}
	in.conn.Close()
	return nil
}

// NewOutput validates cfg (no I/O). key names the field of a problem.
func NewOutput(cfg OutputConfig, env connector.Env) (*Output, string, error) {
	base, key, err := natsconn.NewOutput(&cfg.Config, cfg.Subject, env)
	if err != nil {
		return nil, key, err
	}
	o := &Output{cfg: cfg, log: base.Log, subject: base.Subject}
	return o, "", nil
}

// Connect connects.
func (o *Output) Connect(ctx context.Context) error {
	conn, err := natsconn.Connect(ctx, &o.cfg.Config, o.log)
	if err != nil {
		return fmt.Errorf("nats output: %w", err)
	}
	o.conn = conn
	return nil
}

// WriteBatch implements connector.BatchWriter: it publishes the records
// and flushes (one round trip to the server).
func (o *Output) WriteBatch(ctx context.Context, recs []*stage.Record) error {
	for i, rec := range recs {
		subj, err := o.subject.Expand(rec)
		if err != nil {
			return connector.Permanent(fmt.Errorf("nats output: record %d: subject %w", i+1, err))
		}
		m := &nats.Msg{Subject: subj, Data: rec.Data}
		if o.cfg.Headers {
			m.Header = natsconn.Header(rec.Meta, headerSkipped)
		}
		if err := o.conn.PublishMsg(m); err != nil {
			err = fmt.Errorf("nats output: record %d: %w", i+1, err)
			if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) {
				return connector.Permanent(err)
			}
			return err
		}
	}
	fctx, cancel := context.WithTimeout(ctx, o.cfg.FlushTimeout)
	defer cancel()
	if err := o.conn.FlushWithContext(fctx); err != nil {
		return fmt.Errorf("nats output: flush: %w", err)
	}
	return nil
}

// Healthy implements connector.Health.
func (o *Output) Healthy() error { return o.conn.Healthy() }

// Close flushes and closes the connection.
func (o *Output) Close(ctx context.Context) error {
	if o.conn == nil || o.conn.Conn == nil {
		return nil
	}
	var err error
	if o.conn.IsConnected() {
		if _, ok := ctx.Deadline(); ok {
			err = o.conn.FlushWithContext(ctx)
		} else {
			err = o.conn.FlushTimeout(o.cfg.FlushTimeout)
		}
	}
	o.conn.Close()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("nats output: flush on close: %w", err)
	}
	return nil
}

var (
	_ connector.BatchReader = (*Input)(nil)
	_ connector.BatchWriter = (*Output)(nil)
	_ connector.Health      = (*Input)(nil)
	_ connector.Health      = (*Output)(nil)
)

// headerSkipped reports whether a metadata key stays out of the headers:
// the ones inputs set.
func headerSkipped(k string) bool {
	return k == "" || strings.HasPrefix(k, "nats_") || strings.HasPrefix(k, "kafka_")
}
