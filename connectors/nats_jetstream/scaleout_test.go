package natsjetstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipe-dev/pipe/internal/natstest"
	"github.com/pipe-dev/pipe/internal/replica"
)

// These tests run real pipe binaries (replicas) against a real
// nats-server. They decide by events (counts in the streams, the
// consumer's pending counts); the deadlines only end a broken run.

// w1Pipeline is the native W1 workload between two JetStream streams: keep
// level == error, upper-case msg, add processed: true.
const w1Pipeline = `name: w1-jetstream
input:
  type: nats_jetstream
  codec: ndjson
  urls: ['${NATS_URL}']
  stream: IN
  durable: w1
  ack_wait: 5s
  max_ack_pending: 4096
  reconnect_wait: 50ms
  max_reconnect_wait: 500ms
output:
  type: nats_jetstream
  codec: ndjson
  urls: ['${NATS_URL}']
  subject: out.w1
  reconnect_wait: 50ms
  max_reconnect_wait: 500ms
  retry: {max_attempts: 1000, initial: 50ms, max: 500ms}
stages:
  - {name: errors, type: native, use: select, config: {field: level, equals: error}}
  - {name: shout, type: native, use: case, config: {field: msg, to: upper}}
  - {name: mark, type: native, use: set, config: {fields: {processed: true}}}
`

// startReplica starts a replica of the W1 pipeline against url.
func startReplica(t *testing.T, dir, url string) *replica.Replica {
	t.Helper()
	pf := filepath.Join(dir, "w1.yaml")
	if _, err := os.Stat(pf); err != nil {
		if err := os.WriteFile(pf, []byte(w1Pipeline), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return replica.Start(t, dir, pf, "NATS_URL="+url)
}

// stopAll stops the replicas with SIGTERM: each exits 143 once it drained.
func stopAll(t *testing.T, reps []*replica.Replica) {
	t.Helper()
	for i, r := range reps {
		if code := r.Stop(time.Minute); code != 143 {
			t.Errorf("replica %d exited %d after SIGTERM, want 143\n%s", i, code, r.Output())
		}
	}
}

type event struct {
	ID    int    `json:"id"`
	Level string `json:"level"`
	Msg   string `json:"msg"`
	Proc  bool   `json:"processed"`
}

// setupStreams creates IN with n events (every second one an error) and
// OUT with a duplicate window longer than the test; it returns the ids the
// output must hold.
func setupStreams(t *testing.T, s *natstest.Server, n int) (jetstream.JetStream, map[int]bool) {
	t.Helper()
	ctx := testCtx(t)
	nc, err := nats.Connect(s.URL, nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OUT", Subjects: []string{"out.>"}, Duplicates: 30 * time.Minute}); err != nil {
		t.Fatal(err)
	}
	want := map[int]bool{}
	for i := 1; i <= n; i++ {
		level := "info"
		if i%2 == 0 {
			level = "error"
			want[i] = true
		}
		data := fmt.Sprintf(`{"id":%d,"level":%q,"msg":"message %d"}`, i, level, i)
		for {
			_, err := js.PublishAsync("in.e", []byte(data))
			if err == nil {
				break
			}
			if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
				t.Fatal(err)
			}
			<-js.PublishAsyncComplete() // a loaded machine: wait, then go on
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		t.Fatal("publishing the input timed out")
	}
	return js, want
}

func streamMsgs(t *testing.T, js jetstream.JetStream, name string) uint64 {
	st, err := js.Stream(testCtx(t), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

// waitUntil polls cond every 50ms until it holds or the deadline passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkOutput reads OUT and compares its records with want: every id once,
// transformed by W1.
func checkOutput(t *testing.T, js jetstream.JetStream, want map[int]bool) {
	t.Helper()
	ctx := testCtx(t)
	cons, err := js.OrderedConsumer(ctx, "OUT", jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	total := streamMsgs(t, js, "OUT")
	seen := make(map[int]int, len(want))
	for n := uint64(0); n < total; {
		b, err := cons.Fetch(4096, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range b.Messages() {
			n++
			var e event
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				t.Fatalf("output %q: %v", m.Data(), err)
			}
			if e.Level != "error" || !e.Proc || e.Msg != strings.ToUpper(fmt.Sprintf("message %d", e.ID)) {
				t.Fatalf("output record not transformed by W1: %s", m.Data())
			}
			seen[e.ID]++
		}
		if b.Error() != nil {
			t.Fatal(b.Error())
		}
	}
	var missing, dups int
	for id := range want {
		switch seen[id] {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
	}
	for id := range seen {
		if !want[id] {
			t.Errorf("unexpected id %d in the output", id)
		}
	}
	if missing > 0 || dups > 0 || int(total) != len(want) {
		t.Fatalf("output: %d messages for %d expected records: %d missing, %d duplicated", total, len(want), missing, dups)
	}
}

// drained waits until the consumer has nothing pending or unacknowledged.
func drained(t *testing.T, js jetstream.JetStream, d time.Duration) {
	t.Helper()
	var last string
	waitUntil(t, d, "the consumer to drain (last: "+last+")", func() bool {
		c, err := js.Consumer(testCtx(t), "IN", "w1")
		if err != nil {
			return false
		}
		info, err := c.Info(testCtx(t))
		if err != nil {
			return false
		}
		last = fmt.Sprintf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
		return info.NumPending == 0 && info.NumAckPending == 0
	})
}

// Three replicas share a stream through one durable consumer; one of them
// is killed (SIGKILL) at a random point and started again, three times.
// The output stream holds every expected record exactly once (the server
// drops the re-published duplicates by Nats-Msg-Id) and the consumer
// drains to zero.
func TestScaleOutKill(t *testing.T) {
	n := 200_000
	if testing.Short() {
		n = 20_000
	}
	s := natstest.Start(t, natstest.Options{})
	js, want := setupStreams(t, s, n)
	dir := t.TempDir()
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	t.Logf("%d messages, %d expected; seed %d", n, len(want), seed)
	reps := []*replica.Replica{startReplica(t, dir, s.URL), startReplica(t, dir, s.URL), startReplica(t, dir, s.URL)}
	for round := range 3 {
		// A random point of the run: the output reached a random share
		// of what is expected, within this round's third.
		at := uint64(float64(len(want)) * (float64(round) + rng.Float64()*0.8) / 3.2)
		waitUntil(t, 5*time.Minute, fmt.Sprintf("%d output records", at), func() bool { return streamMsgs(t, js, "OUT") >= at })
		victim := rng.IntN(len(reps))
		t.Logf("round %d: kill -9 replica %d at %d output records", round+1, victim, streamMsgs(t, js, "OUT"))
		reps[victim].Kill()
		reps[victim] = startReplica(t, dir, s.URL)
	}
	drained(t, js, 5*time.Minute)
	waitUntil(t, time.Minute, "every expected record in the output", func() bool { return streamMsgs(t, js, "OUT") >= uint64(len(want)) })
	stopAll(t, reps)
	checkOutput(t, js, want)
}

// The server stops for five seconds in the middle of a run and starts
// again (JetStream on disk): the replicas say they are not ready while it
// is away, reconnect by themselves, and nothing is lost or duplicated.
func TestServerRestartMidRun(t *testing.T) {
	n := 60_000
	if testing.Short() {
		n = 10_000
	}
	s := natstest.Start(t, natstest.Options{})
	js, want := setupStreams(t, s, n)
	dir := t.TempDir()
	reps := []*replica.Replica{startReplica(t, dir, s.URL), startReplica(t, dir, s.URL)}
	waitUntil(t, 5*time.Minute, "a third of the output", func() bool { return streamMsgs(t, js, "OUT") >= uint64(len(want)/3) })
	s.Stop()
	waitUntil(t, time.Minute, "/readyz false on every replica", func() bool {
		for _, r := range reps {
			if ok, err := r.Ready(); err != nil || ok {
				return false
			}
		}
		return true
	})
	time.Sleep(5 * time.Second) // the outage the issue asks for
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Minute, "/readyz true again on every replica", func() bool {
		for _, r := range reps {
			if ok, err := r.Ready(); err != nil || !ok {
				return false
			}
		}
		return true
	})
	drained(t, js, 5*time.Minute)
	waitUntil(t, time.Minute, "every expected record in the output", func() bool { return streamMsgs(t, js, "OUT") >= uint64(len(want)) })
	stopAll(t, reps)
	checkOutput(t, js, want)
}
