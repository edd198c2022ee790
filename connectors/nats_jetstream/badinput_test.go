package natsjetstream

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pipe-dev/pipe/internal/natstest"
	"github.com/pipe-dev/pipe/internal/replica"
)

// runLimit bounds one pipe run of these tests.
var runLimit = 2 * time.Minute

// runPipe runs `pipe run` on a pipeline file written from yaml until it
// exits by itself, or is stopped with SIGTERM once stopWhen holds (polled).
// It returns the exit code and stderr.
func runPipe(t *testing.T, yaml string, stopWhen func() bool, env ...string) (int, string) {
	t.Helper()
	bin, err := replica.Binary()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	pf := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(pf, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runLimit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "run", pf)
	// At the limit: SIGQUIT, so that the Go runtime prints every
	// goroutine's stack into stderr for the failure message.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGQUIT) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	if stopWhen != nil {
		go func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(50 * time.Millisecond):
					if stopWhen() {
						cmd.Process.Signal(os.Interrupt)
						return
					}
				}
			}
		}()
	}
	<-done
	if ctx.Err() != nil {
		t.Fatalf("pipe run did not end within %v\n%s", runLimit, stderr.String())
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}

// Bad input at start: each fails the run with exit 1 and says why.
func TestBadStartExits(t *testing.T) {
	s := natstest.Start(t, natstest.Options{})
	auth := natstest.Start(t, natstest.Options{Token: "right"})
	port, _ := natstest.FreePort()
	const base = `input:
  type: nats_jetstream
  urls: ['${NATS_URL}']
  stream: NOPE
  durable: d
  connect_timeout: 300ms
`
	for _, c := range []struct {
		name, url, extra, want string
	}{
		{"missing stream without create_stream", s.URL, "", "create_stream"},
		{"wrong credentials", auth.URL, "  token: wrong\n", "authorization violation"},
		{"no server", "nats://127.0.0.1:" + strconv.Itoa(port), "", "connect nats://127.0.0.1:" + strconv.Itoa(port)},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, stderr := runPipe(t, base+c.extra, nil, "NATS_URL="+c.url)
			if code != 1 || !strings.Contains(strings.ToLower(stderr), c.want) {
				t.Errorf("exit %d, want 1 and %q in:\n%s", code, c.want, stderr)
			}
		})
	}
}

// A malformed JSON message under ndjson is a record error of the input:
// under dead_letter it is written to the dead-letter file and its message
// acknowledged; under fail the run fails and the message is not
// acknowledged (the server redelivers it).
func TestMalformedJSON(t *testing.T) {
	for _, policy := range []string{"dead_letter", "fail"} {
		t.Run(policy, func(t *testing.T) {
			s := natstest.Start(t, natstest.Options{})
			js := client(t, s, "IN", jetstream.StreamConfig{Subjects: []string{"in.>"}})
			client(t, s, "OUT", jetstream.StreamConfig{Subjects: []string{"out.>"}})
			for _, d := range []string{`{"ok":1}`, `{"broken":`, `{"ok":3}`} {
				if _, err := js.Publish(testCtx(t), "in.a", []byte(d)); err != nil {
					t.Fatal(err)
				}
			}
			dl := filepath.Join(t.TempDir(), "dead.ndjson")
			yaml := `input:
  type: nats_jetstream
  codec: ndjson
  on_error: ` + policy + `
  urls: ['${NATS_URL}']
  stream: IN
  durable: d
output:
  type: nats_jetstream
  urls: ['${NATS_URL}']
  subject: out.a
dead_letter: {path: ` + dl + `}
`
			settled := func() bool {
				c, err := js.Consumer(testCtx(t), "IN", "d")
				if err != nil {
					return false
				}
				info, err := c.Info(testCtx(t))
				return err == nil && info.NumPending == 0 && info.NumAckPending == 0
			}
			code, stderr := runPipe(t, yaml, settled, "NATS_URL="+s.URL)
			c, _ := js.Consumer(testCtx(t), "IN", "d")
			info, _ := c.Info(testCtx(t))
			switch policy {
			case "dead_letter":
				if code != 130 {
					t.Errorf("exit %d, want 130 (stopped with SIGINT)\n%s", code, stderr)
				}
				b, err := os.ReadFile(dl)
				if err != nil || !strings.Contains(string(b), `{\"broken\":`) {
					t.Errorf("dead-letter file %q, %v", b, err)
				}
				if info.AckFloor.Stream != 3 {
					t.Errorf("ack floor %d, want 3: every message acknowledged", info.AckFloor.Stream)
				}
				if n := streamMsgs(t, js, "OUT"); n != 2 {
					t.Errorf("output holds %d messages, want 2", n)
				}
			case "fail":
				if code != 1 || !strings.Contains(stderr, "record 2") {
					t.Errorf("exit %d, want 1 naming record 2\n%s", code, stderr)
				}
				if info.AckFloor.Stream >= 2 {
					t.Errorf("ack floor %d: the malformed message (sequence 2) was acknowledged", info.AckFloor.Stream)
				}
			}
		})
	}
}

// A record over the output stream's max_msg_size fails the batch for good:
// under the output's on_error: fail the run fails with the server's reason
// and the input message is not acknowledged.
func TestOutputTooLarge(t *testing.T) {
	s := natstest.Start(t, natstest.Options{})
	js := client(t, s, "IN", jetstream.StreamConfig{Subjects: []string{"in.>"}})
	client(t, s, "OUT", jetstream.StreamConfig{Subjects: []string{"out.>"}, MaxMsgSize: 100})
	if _, err := js.PublishMsg(testCtx(t), &nats.Msg{Subject: "in.a", Data: []byte(strings.Repeat("x", 500))}); err != nil {
		t.Fatal(err)
	}
	yaml := `input: {type: nats_jetstream, urls: ['${NATS_URL}'], stream: IN, durable: d}
output: {type: nats_jetstream, urls: ['${NATS_URL}'], subject: out.a, on_error: fail}
`
	code, stderr := runPipe(t, yaml, nil, "NATS_URL="+s.URL)
	if code != 1 || !strings.Contains(stderr, "message size exceeds maximum") {
		t.Errorf("exit %d, want 1 and the size error\n%s", code, stderr)
	}
	c, _ := js.Consumer(testCtx(t), "IN", "d")
	info, _ := c.Info(testCtx(t))
	if info.AckFloor.Stream != 0 {
		t.Errorf("ack floor %d: the message was acknowledged", info.AckFloor.Stream)
	}
}
