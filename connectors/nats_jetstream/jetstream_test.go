package natsjetstream

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connectors/internal/natsconn"
	"github.com/pipe-dev/pipe/internal/natstest"
	"github.com/pipe-dev/pipe/stage"
)

func testEnv() connector.Env {
	return connector.Env{Resolve: func(p string) string { return p }}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// connCfg is the connection part of a config for server s.
func connCfg(s *natstest.Server) natsconn.Config {
	return natsconn.Config{URLs: []string{s.URL}, ConnectTimeout: 5 * time.Second, ReconnectWait: 20 * time.Millisecond, MaxReconnectWait: 200 * time.Millisecond}
}

func inputCfg(s *natstest.Server) InputConfig {
	return InputConfig{Config: connCfg(s), Stream: "IN", Durable: "pipe", Deliver: "all", AckPolicy: "explicit",
		AckWait: 30 * time.Second, MaxAckPending: 1000, MaxDeliver: -1, BatchSize: 64, Linger: time.Millisecond}
}

func outputCfg(s *natstest.Server) OutputConfig {
	return OutputConfig{Config: connCfg(s), Subject: "out.{{meta.kind}}", Stream: "OUT", MsgID: "auto",
		Headers: true, MaxInFlight: 256, AckTimeout: 10 * time.Second}
}

// client connects a plain client and creates the stream name over subj.
func client(t *testing.T, s *natstest.Server, stream string, cfg jetstream.StreamConfig) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if stream != "" {
		cfg.Name = stream
		if _, err := js.CreateStream(testCtx(t), cfg); err != nil {
			t.Fatal(err)
		}
	}
	return js
}

func publish(t *testing.T, js jetstream.JetStream, n int, subj string) {
	t.Helper()
	for i := 1; i <= n; i++ {
		m := &nats.Msg{Subject: subj, Data: []byte(fmt.Sprintf(`{"n":%d}`, i)), Header: nats.Header{"Kind": []string{"k" + strconv.Itoa(i%2)}}}
		if _, err := js.PublishMsg(testCtx(t), m); err != nil {
			t.Fatal(err)
		}
	}
}

func openInput(t *testing.T, cfg InputConfig) *Input {
	t.Helper()
	in, key, err := NewInput(cfg, testEnv())
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if err := in.Connect(testCtx(t)); err != nil {
		in.Close(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(context.Background()) })
	return in
}

// readN reads batches until n records arrived; it returns them and their
// acknowledgements (one per batch).
func readN(t *testing.T, in *Input, n int) ([]*stage.Record, []connector.AckFunc) {
	t.Helper()
	var recs []*stage.Record
	var acks []connector.AckFunc
	for len(recs) < n {
		b, ack, err := in.ReadBatch(testCtx(t))
		if err != nil {
			t.Fatalf("after %d records: %v", len(recs), err)
		}
		recs = append(recs, b.Records...)
		acks = append(acks, ack)
	}
	if len(recs) != n {
		t.Fatalf("read %d records, want %d", len(recs), n)
	}
	return recs, acks
}

func pending(t *testing.T, js jetstream.JetStream, stream, durable string) (ackPending int, numPending uint64) {
	t.Helper()
	c, err := js.Consumer(testCtx(t), stream, durable)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	return info.NumAckPending, info.NumPending
}

// waitFor polls cond (an event, not a speed: the bound is only there so a
// broken test ends).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Messages become records with their headers and the nats_* metadata; an
// acknowledged batch leaves nothing pending, a failed one is redelivered.
func TestInputAckAndNak(t *testing.T) {
	s := natstest.Start(t, natstest.Options{})
	js := client(t, s, "IN", jetstream.StreamConfig{Subjects: []string{"in.>"}})
	publish(t, js, 10, "in.a")
	in := openInput(t, inputCfg(s))

	recs, acks := readN(t, in, 10)
	for i, r := range recs {
		if want := fmt.Sprintf(`{"n":%d}`, i+1); string(r.Data) != want {
			t.Errorf("record %d = %s, want %s (order)", i, r.Data, want)
		}
		if r.Get("Kind") != "k"+strconv.Itoa((i+1)%2) || r.Get(MetaSubject) != "in.a" || r.Get(MetaStream) != "IN" ||
			r.Get(MetaSequence) != strconv.Itoa(i+1) || r.Get(MetaDelivered) != "1" || r.Get(MetaTimestamp) == "" {
			t.Errorf("record %d meta = %v", i, r.Meta)
		}
	}
	if ap, _ := pending(t, js, "IN", "pipe"); ap != 10 {
		t.Fatalf("ack pending before the acknowledgement = %d, want 10", ap)
	}
	// Fail the batches: naked, so redelivered at once with nats_delivered 2.
	for _, ack := range acks {
		if err := ack(testCtx(t), connector.ErrNotDelivered); err != nil {
			t.Fatal(err)
		}
	}
	again, acks := readN(t, in, 10)
	for i, r := range again {
		if r.Get(MetaSequence) != strconv.Itoa(i+1) || r.Get(MetaDelivered) != "2" {
			t.Errorf("redelivered record %d meta = %v", i, r.Meta)
		}
	}
	for _, ack := range acks {
		if err := ack(testCtx(t), nil); err != nil {
			t.Fatal(err)
		}
	}
	in.conn.Flush()
	waitFor(t, "no ack pending", func() bool { ap, np := pending(t, js, "IN", "pipe"); return ap == 0 && np == 0 })
}

// ack_policy: all acknowledges a batch with one ack of its last message.
func TestInputAckAll(t *testing.T) {
	s := natstest.Start(t, natstest.Options{})
	js := client(t, s, "IN", jetstream.StreamConfig{Subjects: []string{"in.>"}})
	publish(t, js, 20, "in.a")
	cfg := inputCfg(s)
	cfg.AckPolicy = "all"
	in := openInput(t, cfg)
	_, acks := readN(t, in, 20)
	if err := acks[len(acks)-1](testCtx(t), nil); err != nil {
		t.Fatal(err)
	}
	in.conn.Flush()
	waitFor(t, "no ack pending", func() bool { ap, _ := pending(t, js, "IN", "pipe"); return ap == 0 })
}

// The deliver policies and subject filters choose where a new consumer
// starts and what it sees.
func TestInputDeliverPolicies(t *testing.T) {
	s := natstest.Start(t, natstest.Options{})
	js := client(t, s, "IN", jetstream.StreamConfig{Subjects: []string{"in.>"}})
	publish(t, js, 5, "in.a")
	publish(t, js, 5, "in.b")
	mid := time.Now()
	time.Sleep(10 * time.Millisecond) // the stream's timestamps are after mid
	publish(t, js, 2, "in.c")
	for _, c := range []struct {
		name      string
		set       func(*InputConfig)
		firstSeq  string
		wantCount int
	}{
		{"all", func(c *InputConfig) {}, "1", 12},
		{"by_sequence", func(c *InputConfig) { c.Deliver, c.StartSequence = "by_sequence", 4 }, "4", 9},
		{"by_time", func(c *InputConfig) { c.Deliver, c.StartTime = "by_time", mid.Format(time.RFC3339Nano) }, "11", 2},
		{"last", func(c *InputConfig) { c.Deliver = "last" }, "12", 1},
		{"filter", func(c *InputConfig) { c.Subjects = []string{"in.b"} }, "6", 5},
		{"filters", func(c *InputConfig) { c.Subjects = []string{"in.b", "in.c"} }, "6", 7},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := inputCfg(s)
			cfg.Durable = "d-" + strings.ReplaceAll(c.name, "_", "-")
			c.set(&cfg)
			in := openInput(t, cfg)
			recs, _ := readN(t, in, c.wantCount)
			if recs[0].Get(MetaSequence) != c.firstSeq {
				t.Errorf("first sequence %s, want %s", recs[0].Get(MetaSequence), c.firstSeq)
			}
			if _, np := pending(t, js, "IN", cfg.Durable); np != 0 {
				t.Errorf("%d more messages pending, want %d in all", np, c.wantCount)
			}
		})
	}
	// deliver: new sees only what is published after it started.
	cfg := inputCfg(s)
	cfg.Durable, cfg.Deliver = "d-new", "new"
	in := openInput(t, cfg)
	publish(t, js, 1, "in.z")
	recs, _ := readN(t, in, 1)
	if recs[0].Get(MetaSubject) != "in.z" {
		t.Errorf("deliver: new read %v", recs[0].Meta)
	}
}

// Bad input: a missing stream without create_stream, wrong credentials, no
// server at all fail Connect with an error that says so, within the bounds.
func TestInputConnectErrors(t *testing.T) {
	s := natstest.Start(t, natstest.Options{})
	in, _, err := NewInput(inputCfg(s), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	err = in.Connect(testCtx(t))
	in.Close(context.Background())
	if !errors.Is(err, ErrStreamNotFound) || !strings.Contains(err.Error(), "create_stream") {
		t.Errorf("missing stream: %v", err)
	}

	// create_stream makes it.
	cfg := inputCfg(s)
	cfg.CreateStream = &StreamSpec{Subjects: []string{"made.>"}, DuplicateWindow: time.Minute}
	openInput(t, cfg)
	js := client(t, s, "", jetstream.StreamConfig{})
	if _, err := js.Stream(testCtx(t), "IN"); err != nil {
		t.Errorf("create_stream: %v", err)
	}

	auth := natstest.Start(t, natstest.Options{Token: "right"})
	cfg = inputCfg(auth)
	cfg.Token = "wrong"
	cfg.ConnectTimeout = time.Hour // an authorization error is not retried
	in, _, _ = NewInput(cfg, testEnv())
	err = in.Connect(testCtx(t))
	in.Close(context.Background())
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("wrong token: %v", err)
	}

	port, _ := natstest.FreePort()
	cfg = inputCfg(s)
	cfg.URLs = []string{"nats://127.0.0.1:" + strconv.Itoa(port)}
	cfg.ConnectTimeout = 300 * time.Millisecond
	in, _, _ = NewInput(cfg, testEnv())
	err = in.Connect(testCtx(t))
	in.Close(context.Background())
	if err == nil || !strings.Contains(err.Error(), "connect nats://127.0.0.1:") {
		t.Errorf("no server: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	s := &natstest.Server{URL: "nats://127.0.0.1:1"}
	for _, c := range []struct {
		key string
		set func(*InputConfig)
	}{
		{"urls", func(c *InputConfig) { c.URLs = nil }},
		{"stream", func(c *InputConfig) { c.Stream = "a.b" }},
		{"durable", func(c *InputConfig) { c.Durable = "" }},
		{"start_sequence", func(c *InputConfig) { c.Deliver = "by_sequence" }},
		{"start_time", func(c *InputConfig) { c.Deliver, c.StartTime = "by_time", "yesterday" }},
		{"creds_file", func(c *InputConfig) { c.Token, c.User = "t", "u" }},
		{"password", func(c *InputConfig) { c.Password = "p" }},
		{"max_ack_pending", func(c *InputConfig) { c.MaxAckPending = 0 }},
	} {
		cfg := inputCfg(s)
		c.set(&cfg)
		if _, key, err := NewInput(cfg, testEnv()); err == nil || key != c.key {
			t.Errorf("%s: key %q, err %v", c.key, key, err)
		}
	}
	for _, c := range []struct {
		key string
		set func(*OutputConfig)
	}{
		{"subject", func(c *OutputConfig) { c.Subject = "" }},
		{"subject", func(c *OutputConfig) { c.Subject = "a.{{meta.x" }},
		{"msg_id", func(c *OutputConfig) { c.MsgID = "{{x}}" }},
		{"create_stream", func(c *OutputConfig) { c.Stream, c.CreateStream = "", &StreamSpec{} }},
	} {
		cfg := outputCfg(s)
		c.set(&cfg)
		if _, key, err := NewOutput(cfg, testEnv()); err == nil || key != c.key {
			t.Errorf("%s: key %q, err %v", c.key, key, err)
		}
	}
}

func openOutput(t *testing.T, cfg OutputConfig) *Output {
	t.Helper()
	out, key, err := NewOutput(cfg, testEnv())
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if err := out.Connect(testCtx(t)); err != nil {
		out.Close(context.Background())
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close(context.Background()) })
	return out
}

// src makes a record as if read from stream IN at seq, as input record
// number num.
func src(seq int, data, kind string, num ...int64) *stage.Record {
	r := stage.NewRecord([]byte(data))
	if len(num) > 0 {
		r.SetNumber(num[0])
	}
	r.Set(MetaStream, "IN")
	r.Set(MetaSequence, strconv.Itoa(seq))
	r.Set(MetaSubject, "in.a")
	r.Set("kind", kind)
	return r
}

// The output publishes to the templated subject with metadata as headers
// and a Nats-Msg-Id per source message and index, so a retried or
// redelivered batch is stored once.
func TestOutputPublishDedup(t *testing.T) {
	s := natstest.Start(t, natstest.Options{})
	js := client(t, s, "OUT", jetstream.StreamConfig{Subjects: []string{"out.>"}, Duplicates: time.Minute})
	out := openOutput(t, outputCfg(s))
	// seq 1 (input record 1) splits into three records, the third in
	// batch 2.
	b1 := []*stage.Record{src(1, `{"a":1}`, "x", 1), src(1, `{"a":2}`, "x", 1)}
	b2 := []*stage.Record{src(1, `{"a":3}`, "x", 1), src(2, `{"b":1}`, "y", 2)}
	// A first attempt at b1 that fails (cancelled while waiting for the
	// acknowledgements), then the engine's retry.
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := out.WriteBatch(cancelled, b1); err == nil {
		t.Fatal("write with a cancelled context succeeded")
	}
	for _, b := range [][]*stage.Record{b1, b2} {
		if err := out.WriteBatch(testCtx(t), b); err != nil {
			t.Fatal(err)
		}
	}
	// seq 2 redelivered to the same replica (input record 3), and to
	// another one.
	if err := out.WriteBatch(testCtx(t), []*stage.Record{src(2, `{"b":1}`, "y", 3)}); err != nil {
		t.Fatal(err)
	}
	other := openOutput(t, outputCfg(s))
	if err := other.WriteBatch(testCtx(t), []*stage.Record{src(2, `{"b":1}`, "y", 1)}); err != nil {
		t.Fatal(err)
	}
	st, _ := js.Stream(testCtx(t), "OUT")
	info, _ := st.Info(testCtx(t))
	if info.State.Msgs != 4 {
		t.Fatalf("stream holds %d messages, want 4 (duplicates dropped)", info.State.Msgs)
	}
	want := []struct{ subj, data, id string }{
		{"out.x", `{"a":1}`, "IN:1:0"}, {"out.x", `{"a":2}`, "IN:1:1"}, {"out.x", `{"a":3}`, "IN:1:2"}, {"out.y", `{"b":1}`, "IN:2:0"},
	}
	for i, w := range want {
		m, err := st.GetMsg(testCtx(t), uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != w.subj || string(m.Data) != w.data || m.Header.Get("Nats-Msg-Id") != w.id || m.Header.Get("kind") == "" {
			t.Errorf("message %d = %s %s %v, want %+v", i+1, m.Subject, m.Data, m.Header, w)
		}
		if m.Header.Get(MetaSequence) != "" {
			t.Errorf("message %d carries nats_* metadata as headers: %v", i+1, m.Header)
		}
	}
}

// A record too large for the stream, or whose subject cannot be made, is a
// permanent error; a subject no stream stores is a transient one.
func TestOutputErrors(t *testing.T) {
	s := natstest.Start(t, natstest.Options{MaxPayload: 4096})
	client(t, s, "OUT", jetstream.StreamConfig{Subjects: []string{"out.>"}, MaxMsgSize: 100})
	out := openOutput(t, outputCfg(s))
	big := src(1, strings.Repeat("x", 200), "x")
	if err := out.WriteBatch(testCtx(t), []*stage.Record{big}); !connector.IsPermanent(err) {
		t.Errorf("over max_msg_size: %v, want permanent", err)
	}
	huge := src(2, strings.Repeat("x", 5000), "x")
	if err := out.WriteBatch(testCtx(t), []*stage.Record{huge}); !connector.IsPermanent(err) {
		t.Errorf("over max_payload: %v, want permanent", err)
	}
	nokind := stage.NewRecord([]byte("{}"))
	if err := out.WriteBatch(testCtx(t), []*stage.Record{nokind}); !connector.IsPermanent(err) {
		t.Errorf("missing subject value: %v, want permanent", err)
	}
	cfg := outputCfg(s)
	cfg.Subject, cfg.Stream = "elsewhere", ""
	o2 := openOutput(t, cfg)
	if err := o2.WriteBatch(testCtx(t), []*stage.Record{src(3, "{}", "x")}); err == nil || connector.IsPermanent(err) {
		t.Errorf("no stream for the subject: %v, want a transient error", err)
	}
}

// The server goes away for a while: the input and output report it
// unhealthy, reconnect by themselves, and no message is lost.
func TestReconnect(t *testing.T) {
	s := natstest.Start(t, natstest.Options{})
	js := client(t, s, "IN", jetstream.StreamConfig{Subjects: []string{"in.>"}})
	publish(t, js, 5, "in.a")
	in := openInput(t, inputCfg(s))
	recs, acks := readN(t, in, 5)
	_ = recs
	s.Stop()
	waitFor(t, "unhealthy input", func() bool { return in.Healthy() != nil })
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "healthy input", func() bool { return in.Healthy() == nil })
	for _, ack := range acks {
		ack(testCtx(t), nil)
	}
	js = client(t, s, "", jetstream.StreamConfig{})
	publish(t, js, 5, "in.b")
	// The 5 acked before/after the restart may or may not have reached the
	// server; every message of in.b arrives, the rest at most again.
	seen := map[string]bool{}
	for !seen["10"] {
		b, ack, err := in.ReadBatch(testCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range b.Records {
			seen[r.Get(MetaSequence)] = true
		}
		ack(testCtx(t), nil)
	}
	for i := 6; i <= 10; i++ {
		if !seen[strconv.Itoa(i)] {
			t.Errorf("sequence %d not read after the restart", i)
		}
	}
}
