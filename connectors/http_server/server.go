package httpserver

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrStopped is the result of records the pipeline did not take or did
// not finish because the run stopped: their request answers 503, and the
// client should send them again.
var ErrStopped = errors.New("pipeline stopped before the records were delivered")

// Request is one POST body: its records, and the acknowledgement its
// answer waits for.
type Request struct {
	// Records are the body's records; they alias the body and belong to
	// the request until it is acknowledged.
	Records [][]byte
	done    chan Result
	once    sync.Once
}

// Result is the outcome of a request's records.
type Result struct {
	// Err is nil when every record was written by the output(s), dropped
	// or dead-lettered; the request then answers 200.
	Err error
	// Failed lists the records that failed (0-based indices into Records),
	// when known.
	Failed []Failure
}

// Failure is one failed record of a request.
type Failure struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// Ack answers the request with res. Only the first call counts; later
// ones (and calls after the client went away) do nothing. It never blocks.
func (r *Request) Ack(res Result) {
	r.once.Do(func() { r.done <- res })
}

// Server is the http_server input: it takes POSTed bodies, queues them as
// Requests for the pipeline (Next), and answers each once the pipeline
// acknowledged its records.
//
// # Lifecycle
//
// New checks the configuration (no I/O); Open loads the token and TLS
// files and starts listening; Next hands requests to the pipeline; Stop
// refuses new requests (503) and answers the queued ones that the pipeline
// did not take (503); Close waits for the acknowledgements of requests
// in flight until its context ends, answers the rest 503, and shuts the
// listener down.
//
// # Concurrency
//
// Next may be called from one goroutine at a time; Ack, Stop and Close
// from any.
type Server struct {
	cfg   Config
	token []byte
	srv   *http.Server
	ln    net.Listener
	queue chan *Request
	// reading holds a token per body being read.
	reading chan struct{}

	mu       sync.Mutex
	stopped  bool
	inflight map[*Request]struct{}
	stopCh   chan struct{}

	// Counts of answers, by outcome (for tests and metrics).
	Accepted, TooMany, Refused atomic.Int64

	// OnAnswer, if set before Open, is called with the status of every
	// answer (the input counts them as events "status_CODE").
	OnAnswer func(status int)
}

// New checks cfg and returns a server that is not listening yet.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	return &Server{cfg: cfg, queue: make(chan *Request, cfg.Queue), reading: make(chan struct{}, max(cfg.Queue, 1)),
		inflight: map[*Request]struct{}{}, stopCh: make(chan struct{})}, nil
}

// Open reads the token and TLS files and starts serving.
func (s *Server) Open(ctx context.Context) error {
	tok, err := s.cfg.token()
	if err != nil {
		return err
	}
	s.token = []byte(tok)
	tlsCfg, err := s.cfg.tlsConfig()
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Address)
	if err != nil {
		return fieldErr(fieldAddress, fmt.Errorf("listen: %w", err))
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	s.ln = ln
	// ReadTimeout bounds the reading of a request, body included (a slow
	// client cannot hold a reading slot for ever); there is no
	// WriteTimeout: an answer waits for the acknowledgement (timeout).
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute, IdleTimeout: 2 * time.Minute}
	go s.srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed at Close
	return nil
}

// Addr returns the address the server listens on (host:port).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL returns the URL that takes requests: http(s)://ADDR/PATH.
func (s *Server) URL() string {
	scheme := "http"
	if s.cfg.TLSCert != "" {
		scheme = "https"
	}
	return scheme + "://" + s.Addr() + s.cfg.Path
}

// Next returns the next request for the pipeline. It returns io.EOF once
// the server is stopped and its queue is empty, and ctx's error when ctx
// ends first. The caller must Ack every request Next returns.
func (s *Server) Next(ctx context.Context) (*Request, error) {
	if err := ctx.Err(); err != nil {
		return nil, err // the caller stopped reading: hand nothing more over
	}
	select {
	case r := <-s.queue:
		return r, nil
	default:
	}
	select {
	case r := <-s.queue:
		if err := ctx.Err(); err != nil {
			// ctx ended at the same time: the caller no longer reads.
			r.Ack(Result{Err: ErrStopped})
			return nil, err
		}
		return r, nil
	case <-s.stopCh:
		select {
		case r := <-s.queue:
			return r, nil
		default:
			return nil, io.EOF
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Stop refuses new requests (503 with Retry-After) and answers the queued
// requests that the pipeline has not taken with 503. Requests the pipeline
// took are still answered when they are acknowledged.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.stopped = true
	close(s.stopCh)
	for {
		select {
		case r := <-s.queue:
			r.Ack(Result{Err: ErrStopped})
		default:
			return
		}
	}
}

// Close stops the server (see Stop), waits until ctx ends for the
// requests in flight to be acknowledged, answers the others with 503 and
// closes the listener and connections.
func (s *Server) Close(ctx context.Context) error {
	s.Stop()
	if s.srv == nil {
		return nil
	}
	s.srv.SetKeepAlivesEnabled(false)
	done := make(chan error, 1)
	go func() { done <- s.srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		if err == nil || errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
	}
	// Whatever was not acknowledged in time is not delivered as far as
	// the client knows: 503, so it sends the records again.
	s.mu.Lock()
	for r := range s.inflight {
		r.Ack(Result{Err: ErrStopped})
	}
	s.mu.Unlock()
	wait, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	select {
	case <-done:
	case <-wait.Done():
		s.srv.Close()
	}
	return nil
}

// answer is the JSON body of every answer.
type answer struct {
	Records int       `json:"records"`
	Error   string    `json:"error,omitempty"`
	Record  int       `json:"record,omitempty"` // the 1-based line a 400 is about
	Failed  []Failure `json:"failed,omitempty"`
}

func (s *Server) reply(w http.ResponseWriter, status int, a answer) {
	if s.OnAnswer != nil {
		s.OnAnswer(status)
	}
	w.Header().Set("Content-Type", "application/json")
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", strconv.Itoa(int((s.cfg.RetryAfter+time.Second-1)/time.Second)))
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}

func (s *Server) authorized(r *http.Request) bool {
	if len(s.token) == 0 {
		return true
	}
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), s.token) == 1
}

func (s *Server) isStopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path != s.cfg.Path:
		s.reply(w, http.StatusNotFound, answer{Error: "no such path; POST to " + s.cfg.Path})
		return
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		s.reply(w, http.StatusMethodNotAllowed, answer{Error: "use POST"})
		return
	case !s.authorized(r):
		w.Header().Set("WWW-Authenticate", `Bearer realm="pipe"`)
		s.reply(w, http.StatusUnauthorized, answer{Error: "missing or wrong bearer token"})
		return
	case s.isStopped():
		w.Header().Set("Connection", "close")
		s.Refused.Add(1)
		s.reply(w, http.StatusServiceUnavailable, answer{Error: "shutting down"})
		return
	case len(s.queue) >= cap(s.queue):
		// Full before the body is read: refuse without reading it.
		s.TooMany.Add(1)
		s.reply(w, http.StatusTooManyRequests, answer{Error: "queue full"})
		return
	}
	// At most cap(queue) bodies are read at a time: memory stays bounded
	// however many clients send at once.
	select {
	case s.reading <- struct{}{}:
	default:
		s.TooMany.Add(1)
		s.reply(w, http.StatusTooManyRequests, answer{Error: "too many bodies being received"})
		return
	}
	body, err := readBody(w, r, int64(s.cfg.MaxBodyBytes))
	<-s.reading
	if err == nil {
		var recs [][]byte
		recs, err = split(body, s.cfg.Codec, int(s.cfg.MaxRecordBytes))
		if err == nil {
			s.deliver(w, r, recs)
			return
		}
	}
	var he *httpError
	if errors.As(err, &he) {
		if he.Status == http.StatusRequestEntityTooLarge {
			w.Header().Set("Connection", "close")
		}
		s.reply(w, he.Status, answer{Error: he.Msg, Record: he.Record})
		return
	}
	s.reply(w, http.StatusBadRequest, answer{Error: err.Error()})
}

// deliver queues the records and answers once they are acknowledged.
func (s *Server) deliver(w http.ResponseWriter, r *http.Request, recs [][]byte) {
	if len(recs) == 0 {
		s.reply(w, http.StatusOK, answer{})
		return
	}
	req := &Request{Records: recs, done: make(chan Result, 1)}
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		s.Refused.Add(1)
		s.reply(w, http.StatusServiceUnavailable, answer{Records: len(recs), Error: "shutting down"})
		return
	}
	select {
	case s.queue <- req:
		s.inflight[req] = struct{}{}
	default:
		s.mu.Unlock()
		s.TooMany.Add(1)
		s.reply(w, http.StatusTooManyRequests, answer{Records: len(recs), Error: "queue full"})
		return
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.inflight, req)
		s.mu.Unlock()
	}()
	timer := time.NewTimer(s.cfg.Timeout)
	defer timer.Stop()
	select {
	case res := <-req.done:
		switch {
		case res.Err == nil:
			s.Accepted.Add(1)
			s.reply(w, http.StatusOK, answer{Records: len(recs)})
		case errors.Is(res.Err, ErrStopped):
			s.Refused.Add(1)
			s.reply(w, http.StatusServiceUnavailable, answer{Records: len(recs), Error: res.Err.Error(), Failed: res.Failed})
		default:
			s.reply(w, http.StatusInternalServerError, answer{Records: len(recs), Error: res.Err.Error(), Failed: res.Failed})
		}
	case <-timer.C:
		s.reply(w, http.StatusGatewayTimeout, answer{Records: len(recs), Error: fmt.Sprintf("records not acknowledged within %s; they may still be delivered", s.cfg.Timeout)})
	case <-r.Context().Done():
		// The client went away; the records go on, nobody hears of them.
	}
}

var _ http.Handler = (*Server)(nil)
