package kafka

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/stage"
	"github.com/twmb/franz-go/pkg/kfake"
)

func testEnv() connector.Env { return connector.Env{Resolve: func(p string) string { return p }} }

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// cluster starts a kfake cluster on 127.0.0.1 with the topics, three
// partitions each.
func cluster(t *testing.T, opts ...kfake.Opt) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(3, "in", "out")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func conn(c *kfake.Cluster) ConnConfig {
	return ConnConfig{Brokers: c.ListenAddrs(), ConnectTimeout: 5 * time.Second}
}

func inputCfg(c *kfake.Cluster) InputConfig {
	return InputConfig{ConnConfig: conn(c), Topics: []string{"in"}, Group: "g", Start: "earliest", BatchSize: 16,
		CommitInterval: 50 * time.Millisecond, SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second}
}

func outputCfg(c *kfake.Cluster, topic string) OutputConfig {
	return OutputConfig{ConnConfig: conn(c), Topic: topic, Key: "{{meta.kafka_key}}", Headers: true, Compression: "none",
		MaxInFlight: 1000, AckTimeout: 10 * time.Second}
}

func openOutput(t *testing.T, cfg OutputConfig) *Output {
	t.Helper()
	o, key, err := NewOutput(cfg, testEnv())
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if err := o.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { o.Close(context.Background()) })
	return o
}

func openInput(t *testing.T, cfg InputConfig) *Input {
	t.Helper()
	in, key, err := NewInput(cfg, testEnv())
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if err := in.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	return in
}

// produce writes n records keyed k0..k4 to topic in.
func produce(t *testing.T, c *kfake.Cluster, from, n int) {
	t.Helper()
	o := openOutput(t, outputCfg(c, "in"))
	var recs []*stage.Record
	for i := from; i < from+n; i++ {
		r := stage.NewRecord([]byte(strconv.Itoa(i)))
		r.Set(MetaKey, "k"+strconv.Itoa(i%5))
		r.Set("origin", "test")
		recs = append(recs, r)
	}
	if err := o.WriteBatch(testCtx(t), recs); err != nil {
		t.Fatal(err)
	}
}

// Records come with their key, headers and position as metadata, each
// partition in offset order; an output writing them keeps key and headers.
func TestRoundTrip(t *testing.T) {
	c := cluster(t)
	produce(t, c, 0, 100)
	in := openInput(t, inputCfg(c))
	defer in.Close(context.Background())
	out := openOutput(t, outputCfg(c, "out"))
	last := map[string]int64{}
	n := 0
	for n < 100 {
		b, ack, err := in.ReadBatch(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Records {
			i, _ := strconv.Atoi(string(r.Data))
			if r.Get(MetaKey) != "k"+strconv.Itoa(i%5) || r.Get("origin") != "test" || r.Get(MetaTopic) != "in" {
				t.Fatalf("record %s meta %v", r.Data, r.Meta)
			}
			off, _ := strconv.ParseInt(r.Get(MetaOffset), 10, 64)
			p := r.Get(MetaPartition)
			if prev, ok := last[p]; ok && off != prev+1 {
				t.Errorf("partition %s: offset %d after %d", p, off, prev)
			}
			last[p] = off
		}
		n += len(b.Records)
		if err := out.WriteBatch(testCtx(t), b.Records); err != nil {
			t.Fatal(err)
		}
		ack(testCtx(t), nil)
	}
	// Read the output topic back in another group: same keys and headers.
	cfg := inputCfg(c)
	cfg.Topics, cfg.Group = []string{"out"}, "check"
	chk := openInput(t, cfg)
	defer chk.Close(context.Background())
	seen := map[string]bool{}
	for len(seen) < 100 {
		b, ack, err := chk.ReadBatch(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Records {
			i, _ := strconv.Atoi(string(r.Data))
			if r.Get(MetaKey) != "k"+strconv.Itoa(i%5) || r.Get("origin") != "test" {
				t.Errorf("output record %s meta %v", r.Data, r.Meta)
			}
			seen[string(r.Data)] = true
		}
		ack(testCtx(t), nil)
	}
}

// committed returns the group's committed offsets by partition.
func committed(c *kfake.Cluster, group, topic string) map[int32]int64 {
	out := map[int32]int64{}
	if gi := c.GroupInfo(group); gi != nil {
		for p, cm := range gi.Commits[topic] {
			out[p] = cm.Offset
		}
	}
	return out
}

// Only acknowledged batches are committed: a member that dies with
// batches in flight leaves their records to the next member, which reads
// every record not delivered before.
func TestCommitOnlyDelivered(t *testing.T) {
	c := cluster(t)
	produce(t, c, 0, 300)
	a := openInput(t, inputCfg(c))
	delivered := map[string]bool{}
	deliveredOff := map[int32]int64{} // highest delivered offset + 1 per partition
	var pendingAcks []connector.AckFunc
	for n := 0; n < 100; {
		b, ack, err := a.ReadBatch(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		n += len(b.Records)
		if len(pendingAcks) < 2 { // the first two batches are delivered
			for _, r := range b.Records {
				delivered[string(r.Data)] = true
				p, _ := strconv.Atoi(r.Get(MetaPartition))
				off, _ := strconv.ParseInt(r.Get(MetaOffset), 10, 64)
				deliveredOff[int32(p)] = max(deliveredOff[int32(p)], off+1)
			}
			ack(testCtx(t), nil)
			pendingAcks = append(pendingAcks, nil)
			continue
		}
		pendingAcks = append(pendingAcks, ack) // in flight when the member dies
	}
	// The run fails: what was in flight is not delivered.
	for _, ack := range pendingAcks {
		if ack != nil {
			ack(testCtx(t), connector.ErrNotDelivered)
		}
	}
	a.Close(testCtx(t))
	got := committed(c, "g", "in")
	for p, off := range got {
		if off > deliveredOff[p] {
			t.Errorf("partition %d committed at %d, ahead of the delivered output (%d)", p, off, deliveredOff[p])
		}
	}
	if len(got) == 0 {
		t.Error("nothing committed for the delivered batches")
	}
	// The next member reads everything not delivered.
	b := openInput(t, inputCfg(c))
	defer b.Close(context.Background())
	for len(delivered) < 300 {
		bt, ack, err := b.ReadBatch(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range bt.Records {
			delivered[string(r.Data)] = true
		}
		ack(testCtx(t), nil)
	}
}

// Two members share the partitions; when the second joins, the first
// finishes its batches in flight before the revoke completes, and its
// commit covers them: no record is lost and none is read twice.
func TestRebalanceFinishesInFlight(t *testing.T) {
	c := cluster(t)
	produce(t, c, 0, 600)
	cfgA := inputCfg(c)
	cfgA.BatchSize = 300 // a first batch from every partition
	a := openInput(t, cfgA)
	defer a.Close(context.Background())
	counts := map[string]int{}
	var mu = make(chan struct{}, 1)
	count := func(recs []*stage.Record) {
		mu <- struct{}{}
		for _, r := range recs {
			counts[string(r.Data)]++
		}
		<-mu
	}
	// a reads batches until it holds records of every partition in
	// flight.
	var held []*stage.Record
	var heldAcks []connector.AckFunc
	parts := map[string]bool{}
	for len(parts) < 3 {
		b, ack, err := a.ReadBatch(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Records {
			parts[r.Get(MetaPartition)] = true
		}
		held = append(held, b.Records...)
		heldAcks = append(heldAcks, ack)
	}
	// b joins: the group rebalances while a's batches are in flight.
	bIn := openInput(t, inputCfg(c))
	defer bIn.Close(context.Background())
	go func() {
		// Deliver a's batches later than the rebalance would take if
		// it did not wait for them (without the wait, b reads them
		// again: the test then fails on duplicates, not on time).
		time.Sleep(2 * time.Second)
		count(held)
		for _, ack := range heldAcks {
			ack(context.Background(), nil)
		}
	}()
	done := make(chan error, 2)
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	member := func(in *Input) {
		for ctx.Err() == nil {
			b, ack, err := in.ReadBatch(ctx)
			if err != nil {
				done <- err
				return
			}
			count(b.Records)
			ack(ctx, nil)
		}
		done <- nil
	}
	go member(a)
	go member(bIn)
	deadline := time.Now().Add(45 * time.Second)
	for {
		mu <- struct{}{}
		n := len(counts)
		<-mu
		if n == 600 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	<-done
	mu <- struct{}{}
	defer func() { <-mu }()
	if len(counts) != 600 {
		t.Fatalf("%d of 600 records read", len(counts))
	}
	var dups []string
	for k, n := range counts {
		if n > 1 {
			dups = append(dups, k)
		}
	}
	if len(dups) > 0 {
		t.Errorf("%d records read twice across the rebalance (e.g. %s)", len(dups), strings.Join(dups[:min(5, len(dups))], ","))
	}
}

// Bad input: no broker at the address, a record over the broker's size
// limit, a topic template without its value.
func TestErrors(t *testing.T) {
	c := cluster(t, kfake.BrokerConfigs(map[string]string{"message.max.bytes": "2000"}))
	in, _, err := NewInput(InputConfig{ConnConfig: ConnConfig{Brokers: []string{"127.0.0.1:1"}, ConnectTimeout: 200 * time.Millisecond},
		Topics: []string{"in"}, Group: "g", BatchSize: 1}, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Connect(testCtx(t)); err == nil || !strings.Contains(err.Error(), "connect 127.0.0.1:1") {
		t.Errorf("no broker: %v", err)
	}
	o := openOutput(t, outputCfg(c, "out"))
	big := stage.NewRecord([]byte(strings.Repeat("x", 5000)))
	if err := o.WriteBatch(testCtx(t), []*stage.Record{big}); !connector.IsPermanent(err) {
		t.Errorf("record too large: %v, want permanent", err)
	}
	o2 := openOutput(t, outputCfg(c, "out-{{meta.region}}"))
	if err := o2.WriteBatch(testCtx(t), []*stage.Record{stage.NewRecord([]byte("x"))}); !connector.IsPermanent(err) {
		t.Errorf("missing topic value: %v, want permanent", err)
	}
	for _, key := range []string{"brokers", "topics", "group", "batch_size"} {
		cfg := inputCfg(c)
		switch key {
		case "brokers":
			cfg.Brokers = nil
		case "topics":
			cfg.Topics = nil
		case "group":
			cfg.Group = ""
		case "batch_size":
			cfg.BatchSize = 0
		}
		if _, k, err := NewInput(cfg, testEnv()); err == nil || k != key {
			t.Errorf("%s: key %q, %v", key, k, err)
		}
	}
}

// Wrong SASL credentials fail the connection (after connect_timeout: kfake
// closes the connection instead of answering SaslAuthenticate with an
// error, so the client cannot tell it from a network failure; with a real
// broker's error code the connection fails at once); the right ones
// connect.
func TestSASL(t *testing.T) {
	c := cluster(t, kfake.EnableSASL(), kfake.Superuser("PLAIN", "admin", "right"))
	for _, pw := range []string{"right", "wrong"} {
		cfg := outputCfg(c, "out")
		cfg.SASL = &SASL{Mechanism: "PLAIN", User: "admin", Password: pw}
		cfg.ConnectTimeout = time.Second
		o, _, err := NewOutput(cfg, testEnv())
		if err != nil {
			t.Fatal(err)
		}
		err = o.Connect(testCtx(t))
		o.Close(context.Background())
		if pw == "right" && err != nil {
			t.Errorf("right password: %v", err)
		}
		if pw == "wrong" && err == nil {
			t.Error("wrong password connected")
		}
	}
}
