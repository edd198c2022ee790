package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/stage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// InputConfig is the kafka input's section of a pipeline file.
type InputConfig struct {
	ConnConfig `yaml:",inline"`

	Topics           []string      `yaml:"topics" required:"true" example:"[events]" doc:"The topics to consume."`
	Group            string        `yaml:"group" required:"true" example:"pipe-events" doc:"The consumer group; replicas with the same group share the partitions."`
	Start            string        `yaml:"start" default:"earliest" enum:"earliest,latest" doc:"Where a group without a committed offset starts."`
	BatchSize        int           `yaml:"batch_size" default:"512" doc:"Most records per batch handed to the pipeline."`
	CommitInterval   time.Duration `yaml:"commit_interval" default:"1s" doc:"How often acknowledged offsets are committed (at least 100ms; also at every rebalance and on close)."`
	SessionTimeout   time.Duration `yaml:"session_timeout" default:"10s" doc:"How long the group waits for a silent member before it rebalances its partitions away."`
	RebalanceTimeout time.Duration `yaml:"rebalance_timeout" default:"30s" doc:"How long a rebalance waits for members; a revoke waits this long at most for the batches in flight to be acknowledged."`
}

// Input is the kafka input: a connector.BatchReader in a consumer group.
// Each record is one pipeline record: its value, and as metadata its
// headers plus kafka_topic, kafka_partition, kafka_offset, kafka_key and
// kafka_timestamp.
type Input struct {
	cfg InputConfig
	log *slog.Logger

	cl *kgo.Client

	mu       sync.Mutex
	inflight int           // batches read and not yet acknowledged
	idle     chan struct{} // closed when inflight drops to 0, replaced when it rises
	health   atomic.Pointer[error]
}

// NewInput validates cfg (no I/O). key names the field of a problem.
func NewInput(cfg InputConfig, env connector.Env) (*Input, string, error) {
	if key, err := cfg.validate(env.Resolve); err != nil {
		return nil, key, err
	}
	if len(cfg.Topics) == 0 {
		return nil, "topics", errors.New("at least one topic is needed")
	}
	if cfg.Group == "" {
		return nil, "group", errors.New("a consumer group is needed")
	}
	if cfg.BatchSize < 1 {
		return nil, "batch_size", errors.New("batch_size must be at least 1")
	}
	cfg.CommitInterval = max(cfg.CommitInterval, 100*time.Millisecond) // franz-go's least
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 10 * time.Second
	}
	if cfg.RebalanceTimeout <= 0 {
		cfg.RebalanceTimeout = 30 * time.Second
	}
	in := &Input{cfg: cfg, log: env.Logger, idle: make(chan struct{})}
	close(in.idle)
	if in.log == nil {
		in.log = slog.New(slog.DiscardHandler)
	}
	return in, "", nil
}

// Connect joins the group (retrying the first connection for
// connect_timeout).
func (in *Input) Connect(ctx context.Context) error {
	opts, err := in.cfg.options()
	if err != nil {
		return fmt.Errorf("kafka input: %w", err)
	}
	reset := kgo.NewOffset().AtStart()
	if in.cfg.Start == "latest" {
		reset = kgo.NewOffset().AtEnd()
	}
	opts = append(opts,
		kgo.ConsumerGroup(in.cfg.Group),
		kgo.ConsumeTopics(in.cfg.Topics...),
		kgo.ConsumeResetOffset(reset),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(in.cfg.CommitInterval),
		kgo.SessionTimeout(in.cfg.SessionTimeout),
		kgo.RebalanceTimeout(in.cfg.RebalanceTimeout),
		kgo.OnPartitionsRevoked(in.revoked),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
			in.log.Warn("kafka partitions lost", "partitions", lost)
		}),
	)
	in.cl, err = connect(ctx, in.cfg.Brokers, opts, in.cfg.ConnectTimeout, in.log)
	if err != nil {
		return fmt.Errorf("kafka input: %w", err)
	}
	return nil
}

// connect makes a client and pings the cluster, retrying with backoff for
// timeout.
func connect(ctx context.Context, brokers []string, opts []kgo.Opt, timeout time.Duration, log *slog.Logger) (*kgo.Client, error) {
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	wait := 50 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, max(min(time.Until(deadline), 5*time.Second), 100*time.Millisecond))
		err = cl.Ping(pctx)
		cancel()
		if err == nil {
			return cl, nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) || isFatal(err) {
			cl.Close()
			return nil, fmt.Errorf("connect %s: %w", strings.Join(brokers, ","), err)
		}
		log.Warn("kafka connect failed, retrying", "err", err, "wait", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// revoked runs when partitions are taken away in a rebalance: it waits
// until every batch read so far is acknowledged (bounded by the rebalance
// timeout), then commits the marked offsets, so that the next owner of a
// partition starts after what this member delivered.
func (in *Input) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	in.mu.Lock()
	idle := in.idle
	in.mu.Unlock()
	wctx, cancel := context.WithTimeout(ctx, in.cfg.RebalanceTimeout)
	defer cancel()
	select {
	case <-idle:
	case <-wctx.Done():
		in.log.Warn("kafka rebalance: batches still in flight at the revoke; their records will be read again", "partitions", revoked)
	}
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		in.log.Warn("kafka commit at revoke", "err", err)
	}
}

// ReadBatch implements connector.BatchReader. The acknowledgement of a
// delivered batch marks its offsets for the next commit; that of a batch
// not delivered marks nothing (the group reads the records again after a
// restart or a rebalance).
func (in *Input) ReadBatch(ctx context.Context) (connector.Batch, connector.AckFunc, error) {
	for {
		fs := in.cl.PollRecords(ctx, in.cfg.BatchSize)
		if err := ctx.Err(); err != nil {
			return connector.Batch{}, nil, err
		}
		if fs.IsClientClosed() {
			return connector.Batch{}, nil, errors.New("kafka input: client closed")
		}
		var fatal error
		fs.EachError(func(topic string, p int32, err error) {
			in.health.Store(&err)
			in.log.Warn("kafka fetch", "topic", topic, "partition", p, "err", err)
			if isFatal(err) && fatal == nil {
				fatal = fmt.Errorf("kafka input: topic %s partition %d: %w", topic, p, err)
			}
		})
		if fatal != nil {
			return connector.Batch{}, nil, fatal
		}
		if fs.NumRecords() == 0 {
			continue
		}
		in.health.Store(nil)
		krecs := fs.Records()
		recs := make([]*stage.Record, len(krecs))
		for i, r := range krecs {
			recs[i] = record(r)
		}
		in.mu.Lock()
		if in.inflight == 0 {
			in.idle = make(chan struct{})
		}
		in.inflight++
		in.mu.Unlock()
		return connector.Batch{Records: recs}, in.acker(krecs), nil
	}
}

// isFatal reports whether a fetch error ends the run (retrying cannot fix
// it).
func isFatal(err error) bool {
	return errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.GroupAuthorizationFailed) ||
		errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed)
}

func (in *Input) acker(krecs []*kgo.Record) connector.AckFunc {
	return func(_ context.Context, failed error) error {
		if failed == nil {
			in.cl.MarkCommitRecords(krecs...)
		}
		in.mu.Lock()
		if in.inflight--; in.inflight == 0 {
			close(in.idle)
		}
		in.mu.Unlock()
		return nil
	}
}

func record(r *kgo.Record) *stage.Record {
	meta := make(map[string]string, len(r.Headers)+5)
	for _, h := range r.Headers {
		if _, dup := meta[h.Key]; !dup {
			meta[h.Key] = string(h.Value)
		}
	}
	meta[MetaTopic] = r.Topic
	meta[MetaPartition] = strconv.FormatInt(int64(r.Partition), 10)
	meta[MetaOffset] = strconv.FormatInt(r.Offset, 10)
	if r.Key != nil {
		meta[MetaKey] = string(r.Key)
	}
	meta[MetaTimestamp] = r.Timestamp.UTC().Format(time.RFC3339Nano)
	return &stage.Record{Data: r.Value, Meta: meta}
}

// The metadata keys the input sets besides the record's headers.
const (
	MetaTopic     = "kafka_topic"
	MetaPartition = "kafka_partition"
	MetaOffset    = "kafka_offset"
	MetaKey       = "kafka_key" // absent when the record has no key
	MetaTimestamp = "kafka_timestamp"
)

// Healthy implements connector.Health: the last fetch error, until a fetch
// succeeds.
func (in *Input) Healthy() error {
	if p := in.health.Load(); p != nil {
		return fmt.Errorf("kafka input: %w", *p)
	}
	return nil
}

// Close commits the marked offsets and leaves the group.
func (in *Input) Close(ctx context.Context) error {
	if in.cl == nil {
		return nil
	}
	err := in.cl.CommitMarkedOffsets(ctx)
	in.cl.CloseAllowingRebalance()
	if err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("kafka input: commit on close: %w", err)
	}
	return nil
}

var (
	_ connector.BatchReader = (*Input)(nil)
	_ connector.Health      = (*Input)(nil)
)
