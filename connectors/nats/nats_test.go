package nats

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connectors/internal/natsconn"
	"github.com/pipe-dev/pipe/internal/natstest"
	"github.com/pipe-dev/pipe/stage"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func env() connector.Env { return connector.Env{Resolve: func(p string) string { return p }} }

// The output publishes to the templated subject with metadata as headers;
// two inputs in one queue group share the messages (each exactly one of
// them), an input outside the group gets them all.
func TestPublishSubscribe(t *testing.T) {
	s := natstest.Start(t, natstest.Options{})
	conn := natsconn.Config{URLs: []string{s.URL}, ConnectTimeout: 5 * time.Second, ReconnectWait: 20 * time.Millisecond, MaxReconnectWait: 100 * time.Millisecond}
	open := func(queue string) *Input {
		in, key, err := NewInput(InputConfig{Config: conn, Subjects: []string{"logs.>"}, Queue: queue, PendingLimit: 1000, BatchSize: 50, Linger: time.Millisecond}, env())
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if err := in.Connect(testCtx(t)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(context.Background()) })
		return in
	}
	q1, q2, all := open("pipe"), open("pipe"), open("")
	out, key, err := NewOutput(OutputConfig{Config: conn, Subject: "logs.{{meta.app}}", Headers: true, FlushTimeout: 5 * time.Second}, env())
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if err := out.Connect(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	defer out.Close(testCtx(t))
	var recs []*stage.Record
	for i := range 100 {
		r := stage.NewRecord([]byte(strconv.Itoa(i)))
		r.Set("app", "web")
		r.Set("trace", "t"+strconv.Itoa(i))
		recs = append(recs, r)
	}
	if err := out.WriteBatch(testCtx(t), recs); err != nil {
		t.Fatal(err)
	}
	read := func(in *Input, n int, seen map[string]int) {
		for got := 0; got < n; {
			b, ack, err := in.ReadBatch(testCtx(t))
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range b.Records {
				if r.Get(MetaSubject) != "logs.web" || r.Get("trace") != "t"+string(r.Data) {
					t.Errorf("record %s meta %v", r.Data, r.Meta)
				}
				seen[string(r.Data)]++
			}
			got += len(b.Records)
			if err := ack(testCtx(t), nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	everything := map[string]int{}
	read(all, 100, everything)
	if len(everything) != 100 {
		t.Fatalf("input outside the queue group got %d distinct messages, want 100", len(everything))
	}
	shared := map[string]int{}
	for deadline := time.Now().Add(30 * time.Second); len(shared) < 100; {
		if time.Now().After(deadline) {
			t.Fatalf("the queue group got %d of 100 messages", len(shared))
		}
		// Read whatever each member has (a member may have none).
		for _, in := range []*Input{q1, q2} {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			if b, _, err := in.ReadBatch(ctx); err == nil {
				for _, r := range b.Records {
					shared[string(r.Data)]++
				}
			}
			cancel()
		}
	}
	for k, n := range shared {
		if n != 1 {
			t.Errorf("message %s went to %d members of the queue group", k, n)
		}
	}
	// A subject that cannot be made is a permanent error.
	if err := out.WriteBatch(testCtx(t), []*stage.Record{stage.NewRecord([]byte("x"))}); !connector.IsPermanent(err) {
		t.Errorf("missing subject value: %v", err)
	}
}
