package httpout_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/pipe-dev/pipe/connector/connectortest"
	_ "github.com/pipe-dev/pipe/connectors/all"
	"github.com/pipe-dev/pipe/engine"
)

// receiver is a destination on a fixed 127.0.0.1 port that can fail
// requests and go down (refusing connections) and come back.
type receiver struct {
	addr string
	fail func(n int) int // the status for the n-th request (0-based); 0: 200

	mu       sync.Mutex
	ln       net.Listener
	srv      *http.Server
	requests int
	failed   int
	seen     map[string]int // record -> times received in 2xx requests
	times    []time.Time    // arrival of each request
	codes    []int
	onReq    func(n int) // called for every request, after it was counted
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{seen: map[string]int{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rc.addr = ln.Addr().String()
	rc.serve(ln)
	t.Cleanup(rc.down)
	return rc
}

func (rc *receiver) url() string { return "http://" + rc.addr + "/ingest" }

func (rc *receiver) serve(ln net.Listener) {
	rc.mu.Lock()
	rc.ln = ln
	rc.srv = &http.Server{Handler: rc}
	srv := rc.srv
	rc.mu.Unlock()
	go srv.Serve(ln)
}

// down closes the listener and every connection: connections are refused.
func (rc *receiver) down() {
	rc.mu.Lock()
	srv := rc.srv
	rc.srv = nil
	rc.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
}

// up listens again on the same address.
func (rc *receiver) up(t *testing.T) {
	for {
		ln, err := net.Listen("tcp", rc.addr)
		if err == nil {
			rc.serve(ln)
			return
		}
		time.Sleep(10 * time.Millisecond) // the port may linger a moment
	}
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return
	}
	rc.mu.Lock()
	n := rc.requests
	rc.requests++
	rc.times = append(rc.times, time.Now())
	code := 200
	if rc.fail != nil {
		if c := rc.fail(n); c != 0 {
			code = c
		}
	}
	rc.codes = append(rc.codes, code)
	if code/100 == 2 {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			rc.seen[sc.Text()]++
		}
	} else {
		rc.failed++
	}
	onReq := rc.onReq
	rc.mu.Unlock()
	if onReq != nil {
		onReq(n)
	}
	if code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	w.WriteHeader(code)
}

// run runs yaml (URL replaced by u) over the batches of in.
func run(t *testing.T, yaml, u string, in *connectortest.Input) error {
	t.Helper()
	reg := engine.DefaultRegistry.Clone()
	reg.RegisterInput(in.Type("mem"))
	file := filepath.Join(t.TempDir(), "pipeline.yaml")
	spec, err := engine.Parse([]byte(strings.ReplaceAll(yaml, "URL", u)), file, engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec, engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return p.Run(ctx, strings.NewReader(""), io.Discard)
}

// batches returns n batches of size records {"id":"b-i"}, and every id.
func batches(n, size int) (*connectortest.Input, []string) {
	in := connectortest.NewInput()
	var ids []string
	for b := range n {
		recs := make([]string, size)
		for i := range size {
			id := fmt.Sprintf("%d-%d", b, i)
			ids = append(ids, id)
			recs[i] = fmt.Sprintf(`{"id":%q}`, id)
		}
		in.Add(recs...)
	}
	return in, ids
}

// TestFlakyReceiver: the receiver fails 30% of requests (500, 503, 429)
// and is down for two seconds in the middle; nothing is lost, every input
// batch is acknowledged as delivered, and the duplicates are bounded by
// what the failed attempts had sent before failing.
func TestFlakyReceiver(t *testing.T) {
	nBatches, size, maxRecords := 40, 25, 10
	if testing.Short() {
		nBatches = 15
	}
	rc := newReceiver(t)
	rng := rand.New(rand.NewPCG(1, 2))
	codes := []int{500, 503, 429, 502}
	rc.fail = func(int) int {
		if rng.IntN(10) < 3 {
			return codes[rng.IntN(len(codes))]
		}
		return 0
	}
	// After the 10th request the receiver goes down for two seconds.
	wentDown := make(chan struct{})
	rc.onReq = func(n int) {
		if n == 10 {
			close(wentDown)
			go func() {
				rc.down()
				time.Sleep(2 * time.Second)
				rc.up(t)
			}()
		}
	}
	in, ids := batches(nBatches, size)
	err := run(t, fmt.Sprintf(`
input: {type: mem, codec: ndjson}
output:
  type: http
  url: URL
  batch: {max_records: %d}
  retry: {max_attempts: 1000, initial: 5ms, max: 100ms}
`, maxRecords), rc.url(), in)
	if err != nil {
		t.Fatal(err)
	}
	<-wentDown
	rc.mu.Lock()
	defer rc.mu.Unlock()
	lost, dups := 0, 0
	for _, id := range ids {
		n := rc.seen[fmt.Sprintf(`{"id":%q}`, id)]
		if n == 0 {
			lost++
		}
		if n > 1 {
			dups += n - 1
		}
	}
	// A failed attempt re-sends at most the records of its batch that
	// earlier requests of the attempt had delivered; going down may also
	// cut the answer of one request that was received (one more attempt).
	bound := (rc.failed + 1) * size
	t.Logf("%d records, %d requests, %d failed (status), %d duplicates (bound %d)", len(ids), rc.requests, rc.failed, dups, bound)
	if lost > 0 {
		t.Errorf("%d records lost", lost)
	}
	if dups > bound {
		t.Errorf("%d duplicates, more than the bound %d", dups, bound)
	}
	for _, a := range in.Acks() {
		if a.Err != nil {
			t.Errorf("batch %d acknowledged with %v", a.Batch, a.Err)
		}
	}
	if len(in.Acks()) != nBatches {
		t.Errorf("%d acknowledgements, want %d", len(in.Acks()), nBatches)
	}
}

// TestFlakyReceiverDeadLetter: the same flaky receiver with few attempts
// and on_error: dead_letter: every record is received or in the
// dead-letter file (nothing lost), and every batch is acknowledged.
func TestFlakyReceiverDeadLetter(t *testing.T) {
	rc := newReceiver(t)
	rng := rand.New(rand.NewPCG(3, 4))
	rc.fail = func(int) int {
		if rng.IntN(10) < 3 {
			return 503
		}
		return 0
	}
	dl := filepath.Join(t.TempDir(), "dl.ndjson")
	in, ids := batches(30, 5)
	err := run(t, `
input: {type: mem, codec: ndjson}
output: {type: http, url: URL, retry: {max_attempts: 2, initial: 1ms, max: 5ms}, on_error: dead_letter}
dead_letter: {path: `+dl+`}
`, rc.url(), in)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(dl)
	dead := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line == "" {
			continue
		}
		var d struct{ Record string }
		json.Unmarshal([]byte(line), &d)
		dead[d.Record] = true
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	lost := 0
	for _, id := range ids {
		rec := fmt.Sprintf(`{"id":%q}`, id)
		if rc.seen[rec] == 0 && !dead[rec] {
			lost++
		}
	}
	t.Logf("%d records: %d dead-lettered, %d requests, %d failed", len(ids), len(dead), rc.requests, rc.failed)
	if lost > 0 {
		t.Errorf("%d records neither received nor dead-lettered", lost)
	}
	if len(dead) == 0 {
		t.Error("no batch exhausted its attempts (the scenario did not happen)")
	}
	if len(in.Acks()) != 30 {
		t.Errorf("%d acknowledgements, want 30", len(in.Acks()))
	}
	for _, a := range in.Acks() {
		if a.Err != nil {
			t.Errorf("batch %d acknowledged with %v", a.Batch, a.Err)
		}
	}
}

// TestRetryAfterHonoured: after a 429 with Retry-After: 1 the next attempt
// comes no sooner than a second later.
func TestRetryAfterHonoured(t *testing.T) {
	rc := newReceiver(t)
	rc.fail = func(n int) int {
		if n == 0 {
			return http.StatusTooManyRequests
		}
		return 0
	}
	in, _ := batches(1, 3)
	if err := run(t, `
input: {type: mem, codec: ndjson}
output: {type: http, url: URL, retry: {max_attempts: 3, initial: 1ms, max: 2s}}
`, rc.url(), in); err != nil {
		t.Fatal(err)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.times) != 2 {
		t.Fatalf("%d requests, want 2", len(rc.times))
	}
	if gap := rc.times[1].Sub(rc.times[0]); gap < time.Second {
		t.Errorf("retried %s after a 429 with Retry-After: 1", gap)
	}
}

// TestExhaustedToDeadLetter: a receiver that always fails; after
// max_attempts the records are in the dead-letter file and the batches are
// acknowledged (dead-lettered counts as delivered).
func TestExhaustedToDeadLetter(t *testing.T) {
	rc := newReceiver(t)
	rc.fail = func(int) int { return 500 }
	dl := filepath.Join(t.TempDir(), "dl.ndjson")
	in, ids := batches(3, 4)
	err := run(t, `
input: {type: mem, codec: ndjson}
output: {type: http, url: URL, retry: {max_attempts: 3, initial: 1ms, max: 5ms}, on_error: dead_letter}
dead_letter: {path: `+dl+`}
`, rc.url(), in)
	if err != nil {
		t.Fatal(err)
	}
	if rc.requests != 9 {
		t.Errorf("%d requests, want 3 batches x 3 attempts", rc.requests)
	}
	checkDeadLetters(t, dl, ids, "500")
	for _, a := range in.Acks() {
		if a.Err != nil {
			t.Errorf("dead-lettered batch %d acknowledged with %v", a.Batch, a.Err)
		}
	}
}

// TestPermanentNotRetried: a 400 is not retried; the records take on_error.
func TestPermanentNotRetried(t *testing.T) {
	rc := newReceiver(t)
	rc.fail = func(int) int { return 400 }
	dl := filepath.Join(t.TempDir(), "dl.ndjson")
	in, ids := batches(1, 2)
	if err := run(t, `
input: {type: mem, codec: ndjson}
output: {type: http, url: URL, retry: {max_attempts: 5, initial: 1ms}, on_error: dead_letter}
dead_letter: {path: `+dl+`}
`, rc.url(), in); err != nil {
		t.Fatal(err)
	}
	if rc.requests != 1 {
		t.Errorf("%d requests for a 400, want 1", rc.requests)
	}
	checkDeadLetters(t, dl, ids, "400")
}

// TestRefusedAtStart: nothing listens at the URL; the writes are retried,
// then the policy applies: fail ends the run with the cause and leaves the
// batches unacknowledged; dead_letter keeps the records.
func TestRefusedAtStart(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	u := "http://" + ln.Addr().String() + "/"
	ln.Close()
	t.Run("fail", func(t *testing.T) {
		in, _ := batches(2, 2)
		err := run(t, `
input: {type: mem, codec: ndjson}
output: {type: http, url: URL, retry: {max_attempts: 3, initial: 1ms, max: 5ms}}
`, u, in)
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("run error %v, want connection refused", err)
		}
		for _, a := range in.Acks() {
			if a.Err == nil {
				t.Errorf("batch %d acknowledged as delivered", a.Batch)
			}
		}
	})
	t.Run("dead_letter", func(t *testing.T) {
		in, ids := batches(2, 2)
		dl := filepath.Join(t.TempDir(), "dl.ndjson")
		if err := run(t, `
input: {type: mem, codec: ndjson}
output: {type: http, url: URL, retry: {max_attempts: 2, initial: 1ms, max: 5ms}, on_error: dead_letter}
dead_letter: {path: `+dl+`}
`, u, in); err != nil {
			t.Fatal(err)
		}
		checkDeadLetters(t, dl, ids, "refused")
	})
}

func checkDeadLetters(t *testing.T, path string, ids []string, cause string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var dl struct{ Record, Error string }
		if err := json.Unmarshal([]byte(line), &dl); err != nil {
			t.Fatalf("dead letter %q: %v", line, err)
		}
		if !strings.Contains(dl.Error, cause) {
			t.Errorf("dead letter error %q does not name %q", dl.Error, cause)
		}
		var rec struct{ ID string }
		json.Unmarshal([]byte(dl.Record), &rec)
		got[rec.ID] = true
	}
	for _, id := range ids {
		if !got[id] {
			t.Errorf("record %s is not in the dead-letter file", id)
		}
	}
}
