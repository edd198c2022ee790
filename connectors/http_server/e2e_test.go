package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connector/connectortest"
	_ "github.com/pipe-dev/pipe/connectors/all"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/internal/testkit"
	"github.com/pipe-dev/pipe/stage"
	_ "github.com/pipe-dev/pipe/stages/all"
)

// running is a pipeline run in the background.
type running struct {
	url    string
	cancel context.CancelFunc
	done   chan error
}

// runPipeline starts the pipeline yaml (with ADDR replaced by a free
// address) writing to out, and waits until the server answers.
func runPipeline(t *testing.T, yaml string, out *connectortest.Output) *running {
	t.Helper()
	addr := testkit.FreeAddr(t)
	reg := engine.DefaultRegistry.Clone()
	reg.RegisterOutput(out.Type("mem"))
	dir := t.TempDir()
	file := filepath.Join(dir, "pipeline.yaml")
	spec, err := engine.Parse([]byte(strings.ReplaceAll(yaml, "ADDR", addr)), file, engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec, engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{url: "http://" + addr + "/", cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- p.Run(ctx, strings.NewReader(""), io.Discard) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			t.Error("pipeline did not stop")
		}
		p.Close()
	})
	testkit.WaitListening(t, addr, r.done)
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("pipeline did not stop")
		return nil
	}
}

func postBody(client *http.Client, url, body string) (int, string, error) {
	resp, err := client.Post(url, "application/x-ndjson", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

// TestLoad runs the input under 50 concurrent clients while the output is
// first held (so the queue fills and 429s appear), then released: every
// record of a body answered 200 must be in the output.
func TestLoad(t *testing.T) {
	clients, requests, perBody := 50, 20, 20
	if testing.Short() {
		requests = 6
	}
	out := connectortest.NewOutput()
	gate := make(chan struct{})
	out.Fail = func(int, []*stage.Record) error { <-gate; return nil }
	r := runPipeline(t, `
input: {type: http_server, address: ADDR, codec: ndjson, queue: 4}
output: {type: mem}
`, out)
	var (
		mu      sync.Mutex
		ok      = map[string]int{} // ids of records answered 200
		n429    atomic.Int64
		other   atomic.Int64
		started sync.WaitGroup
		wg      sync.WaitGroup
	)
	got429 := make(chan struct{})
	var once sync.Once
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	started.Add(clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			for req := range requests {
				var body strings.Builder
				ids := make([]string, perBody)
				for i := range perBody {
					ids[i] = fmt.Sprintf("c%d-r%d-%d", c, req, i)
					fmt.Fprintf(&body, "{\"id\":%q}\n", ids[i])
				}
				for {
					code, answer, err := postBody(client, r.url, body.String())
					if err != nil {
						t.Errorf("client %d: %v", c, err)
						return
					}
					if code == http.StatusTooManyRequests {
						n429.Add(1)
						once.Do(func() { close(got429) })
						time.Sleep(time.Millisecond) // a client that retries soon
						continue
					}
					if code != http.StatusOK {
						other.Add(1)
						t.Errorf("client %d: status %d %s", c, code, answer)
						break
					}
					var a struct{ Records int }
					if json.Unmarshal([]byte(answer), &a); a.Records != perBody {
						t.Errorf("200 answer %s, want %d records", answer, perBody)
					}
					mu.Lock()
					for _, id := range ids {
						ok[id]++
					}
					mu.Unlock()
					break
				}
			}
		}()
	}
	started.Wait()
	select {
	case <-got429: // the queue is full while the output is held
	case <-time.After(time.Minute): // a bound, not a speed test
		close(gate)
		t.Fatal("no 429 while the output was held")
	}
	close(gate)
	wg.Wait()
	if err := r.stop(t); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v", err)
	}
	written := map[string]int{}
	for _, line := range out.Lines() {
		var rec struct{ ID string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("output record %q: %v", line, err)
		}
		written[rec.ID]++
	}
	missing, dups := 0, 0
	for id := range ok {
		if written[id] == 0 {
			missing++
		}
	}
	for _, n := range written {
		dups += n - 1
	}
	t.Logf("%d records answered 200, %d written, %d 429 answers, %d other, %d duplicates", len(ok), len(written), n429.Load(), other.Load(), dups)
	if missing > 0 {
		t.Errorf("%d records answered 200 are not in the output", missing)
	}
	if len(ok) != clients*requests*perBody {
		t.Errorf("%d records answered 200, want %d", len(ok), clients*requests*perBody)
	}
	if n429.Load() == 0 {
		t.Error("no 429 although the queue was full")
	}
	if dups != 0 {
		t.Errorf("%d duplicates although no request was sent twice after a 200 or a failure", dups)
	}
}

// TestNoOKForUnwritten: when the output gives up on a batch, its request
// is answered 500 and says why; it is never a 200.
func TestNoOKForUnwritten(t *testing.T) {
	out := connectortest.NewOutput()
	out.Fail = func(_ int, recs []*stage.Record) error {
		for _, r := range recs {
			if bytes.Contains(r.Data, []byte("poison")) {
				return connector.Permanent(errors.New("destination refuses poison"))
			}
		}
		return nil
	}
	r := runPipeline(t, `
input: {type: http_server, address: ADDR}
output: {type: mem, retry: {max_attempts: 1}}
`, out)
	code, answer, err := postBody(http.DefaultClient, r.url, "fine\n")
	if err != nil || code != 200 {
		t.Fatalf("good body: %d %s %v", code, answer, err)
	}
	code, answer, err = postBody(http.DefaultClient, r.url, "a\npoison\n")
	if err != nil {
		t.Fatal(err)
	}
	if code == 200 || !strings.Contains(answer, "poison") {
		t.Errorf("body the output refused: %d %s, want an error naming the cause", code, answer)
	}
	if err := r.stop(t); err == nil {
		t.Error("the run did not fail under output on_error: fail")
	}
	if got := strings.Join(out.Lines(), ","); got != "fine" {
		t.Errorf("output %q, want only the good record", got)
	}
}

// TestDeadLetteredIsDelivered: records dead-lettered by the output's
// on_error count as delivered (200), and are in the dead-letter file.
func TestDeadLetteredIsDelivered(t *testing.T) {
	out := connectortest.NewOutput()
	out.Fail = func(int, []*stage.Record) error { return connector.Permanent(errors.New("410 gone")) }
	dl := filepath.Join(t.TempDir(), "dl.ndjson")
	r := runPipeline(t, `
input: {type: http_server, address: ADDR}
output: {type: mem, on_error: dead_letter}
dead_letter: {path: `+dl+`}
`, out)
	code, answer, err := postBody(http.DefaultClient, r.url, "x1\nx2\n")
	if err != nil || code != 200 {
		t.Fatalf("dead-lettered body: %d %s %v, want 200", code, answer, err)
	}
	b, _ := os.ReadFile(dl)
	if !strings.Contains(string(b), `"x1"`) || !strings.Contains(string(b), `"x2"`) {
		t.Errorf("dead-letter file:\n%s", b)
	}
}

// TestDrain: on shutdown, a request in flight is answered once it is
// delivered, and new requests are refused.
func TestDrain(t *testing.T) {
	out := connectortest.NewOutput()
	gate := make(chan struct{})
	entered := make(chan struct{}, 1)
	out.Fail = func(int, []*stage.Record) error {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-gate
		return nil
	}
	r := runPipeline(t, `
input: {type: http_server, address: ADDR}
output: {type: mem}
`, out)
	inFlight := make(chan int, 1)
	go func() {
		code, _, _ := postBody(http.DefaultClient, r.url, "in flight\n")
		inFlight <- code
	}()
	<-entered // the output is writing it
	r.cancel()
	// New requests are refused from now on (503, or no listener once closed).
	for {
		code, _, err := postBody(http.DefaultClient, r.url, "late\n")
		if err != nil || code == http.StatusServiceUnavailable {
			break
		}
		if code == 200 {
			t.Fatal("request after shutdown answered 200")
		}
	}
	close(gate)
	if code := <-inFlight; code != 200 {
		t.Errorf("request in flight at shutdown: %d, want 200", code)
	}
	r.stop(t)
	if got := strings.Join(out.Lines(), ","); got != "in flight" {
		t.Errorf("output %q", got)
	}
}
