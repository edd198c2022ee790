package natstest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The server starts on 127.0.0.1 with JetStream on disk: a stream and its
// message survive a stop and a start on the same port and store.
func TestStartStopStart(t *testing.T) {
	s := Start(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := nats.Connect(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "t.1", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	nc.Close()

	s.Stop()
	if s.Running() {
		t.Fatal("running after Stop")
	}
	if _, err := nats.Connect(s.URL, nats.NoReconnect()); err == nil {
		t.Fatal("connected to a stopped server")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	nc, err = nats.Connect(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ = jetstream.New(nc)
	st, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	msg, err := st.GetLastMsgForSubject(ctx, "t.1")
	if err != nil {
		t.Fatal(err)
	}
	if string(msg.Data) != "kept" {
		t.Fatalf("message after restart = %q", msg.Data)
	}
}

// A token-protected server refuses a client without the token.
func TestToken(t *testing.T) {
	s := Start(t, Options{Token: "s3cret"})
	if _, err := nats.Connect(s.URL, nats.NoReconnect()); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("without token: %v, want authorization violation", err)
	}
	nc, err := nats.Connect(s.URL, nats.Token("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	nc.Close()
}
