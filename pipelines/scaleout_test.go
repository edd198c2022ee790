package pipelines

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipe-dev/pipe/internal/natstest"
	"github.com/pipe-dev/pipe/internal/replica"
)

// The scale-out example runs as two replicas against a real nats-server:
// the sample log published to EVENTS comes out of DIGEST as the same
// digest error-digest.yaml prints (in whatever order the replicas
// finished), each record once.
func TestScaleOutExample(t *testing.T) {
	if testing.Short() {
		t.Skip("builds pipe and runs a nats-server (skipped under -short)")
	}
	s := natstest.Start(t, natstest.Options{})
	env := "NATS_URL=" + s.URL
	dir := t.TempDir()
	a := replica.Start(t, dir, "scale-out/error-digest-jetstream.yaml", env)
	b := replica.Start(t, dir, "scale-out/error-digest-jetstream.yaml", env)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nc, err := nats.Connect(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	data, err := os.ReadFile("data/app.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if _, err := js.Publish(ctx, "events.app", bytes.Clone(sc.Bytes())); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("expected/error-digest.out")
	if err != nil {
		t.Fatal(err)
	}
	wantLines := strings.Split(strings.TrimSpace(string(want)), "\n")
	var got []string
	for len(got) < len(wantLines) {
		cons, err := js.OrderedConsumer(ctx, "DIGEST", jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatal(err)
		}
		got = got[:0]
		batch, err := cons.FetchNoWait(10 * len(wantLines))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if m.Subject() != "digest.events.app" {
				t.Fatalf("subject %s", m.Subject())
			}
			got = append(got, string(m.Data()))
		}
		if ctx.Err() != nil {
			t.Fatalf("DIGEST holds %d of %d records", len(got), len(wantLines))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, r := range []*replica.Replica{a, b} {
		if code := r.Stop(time.Minute); code != 143 {
			t.Errorf("replica exited %d after SIGTERM\n%s", code, r.Output())
		}
	}
	slices.Sort(got)
	slices.Sort(wantLines)
	if !slices.Equal(got, wantLines) {
		t.Errorf("DIGEST differs from expected/error-digest.out (sorted):\n%s", strings.Join(got, "\n"))
	}
}
