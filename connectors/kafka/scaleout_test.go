package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/internal/replica"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const w1Kafka = `name: w1-kafka
input:
  type: kafka
  codec: ndjson
  brokers: ['${KAFKA_BROKERS}']
  topics: [in]
  group: w1
  batch_size: 256
  commit_interval: 100ms
  session_timeout: 3s
  rebalance_timeout: 10s
output:
  type: kafka
  codec: ndjson
  brokers: ['${KAFKA_BROKERS}']
  topic: out
  linger: 300ms # records stay in flight a while: a commit ahead of the output would show
  retry: {max_attempts: 100, initial: 50ms, max: 500ms}
stages:
  - {name: errors, type: native, use: select, config: {field: level, equals: error}}
  - {name: shout, type: native, use: case, config: {field: msg, to: upper}}
  - {name: mark, type: native, use: set, config: {fields: {processed: true}}}
`

// outputIDs reads the whole out topic (up to its current end) and returns
// the ids in it with their counts.
func outputIDs(t *testing.T, brokers []string) map[int]int {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testCtx(t)
	// The ends of the partitions now: read up to them.
	ends := map[int32]int64{}
	for p := range int32(3) {
		ends[p] = -1
	}
	target := listEnds(t, cl)
	ids := map[int]int{}
	done := func() bool {
		for p, end := range target {
			if ends[p] < end-1 {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("reading the output topic timed out")
		}
		fs.EachRecord(func(r *kgo.Record) {
			ends[r.Partition] = max(ends[r.Partition], r.Offset)
			var e struct {
				ID   int    `json:"id"`
				Msg  string `json:"msg"`
				Proc bool   `json:"processed"`
			}
			if err := json.Unmarshal(r.Value, &e); err != nil || !e.Proc || e.Msg != strings.ToUpper(fmt.Sprintf("message %d", e.ID)) {
				t.Errorf("output record not transformed by W1: %s", r.Value)
			}
			ids[e.ID]++
		})
	}
	return ids
}

// listEnds returns the end offsets (high watermarks) of out's partitions.
func listEnds(t *testing.T, cl *kgo.Client) map[int32]int64 {
	t.Helper()
	ends := map[int32]int64{}
	for p := range int32(3) {
		o, err := endOffset(cl, "out", p)
		if err != nil {
			t.Fatal(err)
		}
		ends[p] = o
	}
	return ends
}

// A consumer group of two pipe replicas, one killed (SIGKILL) mid-run:
// every record of the input topic is in the output topic at least once,
// and no committed offset is ever ahead of the delivered output (sampled
// throughout the run).
func TestScaleOutKillKafka(t *testing.T) {
	n := 20_000
	if testing.Short() {
		n = 4_000
	}
	c := cluster(t, kfake.GroupMinSessionTimeout(time.Second))
	brokers := c.ListenAddrs()
	dir := t.TempDir()
	pf := filepath.Join(dir, "w1.yaml")
	if err := os.WriteFile(pf, []byte(w1Kafka), 0o644); err != nil {
		t.Fatal(err)
	}
	env := "KAFKA_BROKERS=" + strings.Join(brokers, ",")
	a := replica.Start(t, dir, pf, env)
	b := replica.Start(t, dir, pf, env)
	if _, err := c.WaitGroupStable(testCtx(t), "w1", 2); err != nil {
		t.Fatalf("the group of two did not form: %v", err)
	}

	// Produce the input in two halves, the second after the kill (so the
	// survivor must take over the dead member's partitions); remember
	// where each error record went.
	type pos struct {
		p   int32
		off int64
	}
	var wmu sync.Mutex
	where := map[int]pos{}
	pcl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	produce := func(from, to int) {
		var recs []*kgo.Record
		for i := from; i <= to; i++ {
			level := "info"
			if i%2 == 0 {
				level = "error"
			}
			recs = append(recs, &kgo.Record{Topic: "in", Key: fmt.Appendf(nil, "k%d", i%7),
				Value: fmt.Appendf(nil, `{"id":%d,"level":%q,"msg":"message %d"}`, i, level, i)})
		}
		res := pcl.ProduceSync(testCtx(t), recs...)
		wmu.Lock()
		defer wmu.Unlock()
		for _, r := range res { // in the order they completed
			if r.Err != nil {
				t.Fatal(r.Err)
			}
			var e struct{ ID int }
			if err := json.Unmarshal(r.Record.Value, &e); err != nil {
				t.Fatal(err)
			}
			if e.ID%2 == 0 {
				where[e.ID] = pos{r.Record.Partition, r.Record.Offset}
			}
		}
	}
	produce(1, n/2)

	// Check the invariant on a sample: commits first, then the output
	// (which only grows): every expected record below a committed offset
	// must be in the output already.
	var mu sync.Mutex
	checks, violations := 0, 0
	check := func() map[int]int {
		commits := committed(c, "w1", "in")
		out := outputIDs(t, brokers)
		mu.Lock()
		defer mu.Unlock()
		wmu.Lock()
		defer wmu.Unlock()
		checks++
		for id, w := range where {
			if cm, ok := commits[w.p]; ok && w.off < cm && out[id] == 0 {
				violations++
				if violations < 5 {
					t.Errorf("record %d (partition %d offset %d) is below the committed offset %d but not in the output", id, w.p, w.off, cm)
				}
			}
		}
		return out
	}
	// Kill a when about a third of the first half is out.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		out := check()
		if len(out) >= n/12 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d records out", len(out), n/4)
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.Kill()
	produce(n/2+1, n)
	var out map[int]int
	for {
		out = check()
		if len(out) == len(where) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records out after the kill\n%s", len(out), len(where), b.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := b.Stop(time.Minute); code != 143 {
		t.Errorf("replica exited %d after SIGTERM, want 143\n%s", code, b.Output())
	}
	check()
	dups := 0
	for _, k := range out {
		if k > 1 {
			dups++
		}
	}
	t.Logf("%d records out, %d of them more than once (at least once after a kill), %d commit/output checks", len(out), dups, checks)
}

// endOffset asks for the end of a partition.
func endOffset(cl *kgo.Client, topic string, p int32) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := kmsgListOffsets(topic, p)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return 0, err
	}
	for _, tp := range resp.Topics {
		for _, pp := range tp.Partitions {
			if pp.Partition == p {
				return pp.Offset, nil
			}
		}
	}
	return 0, fmt.Errorf("no offset for %s/%d", topic, p)
}

func kmsgListOffsets(topic string, p int32) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition = p
	rp.Timestamp = -1 // the end
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}
