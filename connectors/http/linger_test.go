package httpout_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/connector/connectortest"
	"github.com/pipe-dev/pipe/engine"
)

// lingerSink is a receiver that keeps the records of every request.
type lingerSink struct {
	mu       sync.Mutex
	requests [][]string          // records per answered-2xx request
	fail     func(n int) int     // status for the n-th request (0: 200)
	check    func(recs []string) // called for every request before it is answered
	n        int
}

func (s *lingerSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, _ := io.ReadAll(r.Body)
	var recs []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		recs = append(recs, sc.Text())
	}
	s.mu.Lock()
	n := s.n
	s.n++
	code := 200
	if s.fail != nil && s.fail(n) != 0 {
		code = s.fail(n)
	}
	if code == 200 {
		s.requests = append(s.requests, recs)
	}
	check := s.check
	s.mu.Unlock()
	if check != nil {
		check(recs)
	}
	w.WriteHeader(code)
}

func (s *lingerSink) got() (requests [][]string, all []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.requests {
		all = append(all, r...)
	}
	return append([][]string(nil), s.requests...), all
}

func buildPipeline(t *testing.T, yaml string, reg *engine.Registry) *engine.Pipeline {
	t.Helper()
	if reg == nil {
		reg = engine.DefaultRegistry.Clone()
	}
	spec, err := engine.Parse([]byte(yaml), filepath.Join(t.TempDir(), "pipeline.yaml"), engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	p, err := engine.Build(spec, engine.WithRegistry(reg))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestLingerGroupsATrickle: stdin is a pipe that a writer feeds one record
// every 50 ms; with batch.linger 300ms the records reach the receiver in
// fewer requests than records, none over max_records, each record once,
// and the end of input sends what lingers.
func TestLingerGroupsATrickle(t *testing.T) {
	sink := &lingerSink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	p := buildPipeline(t, fmt.Sprintf(`
input: {codec: ndjson}
output: {type: http, url: %s, batch: {max_records: 4, linger: 300ms}}
`, srv.URL), nil)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	go func() {
		defer pw.Close()
		for i := range n {
			fmt.Fprintf(pw, "{\"i\":%d}\n", i)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	if err := p.Run(context.Background(), pr, io.Discard); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	reqs, all := sink.got()
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf(`{"i":%d}`, i))
	}
	if strings.Join(all, ",") != strings.Join(want, ",") {
		t.Fatalf("received %v, want %v", all, want)
	}
	if len(reqs) >= n {
		t.Errorf("%d requests for %d records: not grouped", len(reqs), n)
	}
	for i, r := range reqs {
		if len(r) > 4 {
			t.Errorf("request %d has %d records, more than max_records 4", i, len(r))
		}
	}
	t.Logf("%d records in %d requests", n, len(reqs))
}

// TestLingerEndOfInput: a linger far longer than the run; the end of
// input sends the group at once.
func TestLingerEndOfInput(t *testing.T) {
	sink := &lingerSink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	p := buildPipeline(t, fmt.Sprintf(`
input: {codec: ndjson}
output: {type: http, url: %s, batch: {max_records: 100, linger: 1h}}
`, srv.URL), nil)
	pr, pw, _ := os.Pipe()
	go func() {
		defer pw.Close()
		for i := range 5 {
			fmt.Fprintf(pw, "{\"i\":%d}\n", i) // one read, one batch each (most likely): grouped anyway
		}
	}()
	if err := p.Run(context.Background(), pr, io.Discard); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	reqs, all := sink.got()
	if len(reqs) != 1 || len(all) != 5 {
		t.Fatalf("requests %v, want one of five records", reqs)
	}
}

// TestLingerAcksAfterSuccess: a trickle from an input that observes its
// acknowledgements; every request's records were not acknowledged when
// the receiver saw it (acknowledgements wait for the 2xx), a failed
// request's records are retried before they are acknowledged, and every
// batch is acknowledged as delivered in the end.
func TestLingerAcksAfterSuccess(t *testing.T) {
	in := connectortest.NewInput()
	in.Open = true
	sink := &lingerSink{fail: func(n int) int {
		if n == 0 {
			return 503
		}
		return 0
	}}
	var mu sync.Mutex
	var early []string
	sink.check = func(recs []string) {
		acked := map[string]bool{}
		for _, a := range in.Acks() {
			acked[fmt.Sprintf(`{"i":%d}`, a.Batch)] = true
		}
		for _, r := range recs {
			if acked[r] {
				mu.Lock()
				early = append(early, r)
				mu.Unlock()
			}
		}
	}
	srv := httptest.NewServer(sink)
	defer srv.Close()
	reg := engine.DefaultRegistry.Clone()
	reg.RegisterInput(in.Type("mem"))
	p := buildPipeline(t, fmt.Sprintf(`
input: {type: mem, codec: ndjson}
output: {type: http, url: %s, batch: {max_records: 5, linger: 200ms}, retry: {max_attempts: 5, initial: 1ms, max: 5ms}}
`, srv.URL), reg)
	done := make(chan error, 1)
	go func() { done <- p.Run(context.Background(), nil, io.Discard) }()
	const n = 12
	for i := range n {
		in.Add(fmt.Sprintf(`{"i":%d}`, i))
		time.Sleep(20 * time.Millisecond)
	}
	in.Finish()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, all := sink.got()
	if len(all) != n {
		t.Fatalf("received %d records, want %d: %v", len(all), n, all)
	}
	acks := in.Acks()
	if len(acks) != n {
		t.Fatalf("%d acknowledgements, want %d", len(acks), n)
	}
	for i, a := range acks {
		if a.Batch != i || a.Err != nil {
			t.Errorf("acknowledgement %d: %+v", i, a)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(early) > 0 {
		t.Errorf("records acknowledged before the receiver answered: %v", early)
	}
}
