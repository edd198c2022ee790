package httpserver

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// start opens a server on a free port and closes it at the end of t.
func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	cfg.Address = "127.0.0.1:0"
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s
}

// consume acknowledges every request with ack(records) and reports the
// records taken on got.
func consume(t *testing.T, s *Server, ack func([][]byte) Result) <-chan [][]byte {
	got := make(chan [][]byte, 100)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		for {
			r, err := s.Next(ctx)
			if err != nil {
				return
			}
			recs := make([][]byte, len(r.Records))
			for i, rec := range r.Records {
				recs[i] = append([]byte(nil), rec...)
			}
			got <- recs
			r.Ack(ack(recs))
		}
	}()
	return got
}

func ok([][]byte) Result { return Result{} }

type reply struct {
	code int
	hdr  http.Header
	body answer
}

func post(t *testing.T, url string, body []byte, hdr map[string]string) reply {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &a); err != nil {
		t.Fatalf("status %d: body %q is not JSON: %v", resp.StatusCode, raw, err)
	}
	return reply{resp.StatusCode, resp.Header, a}
}

func gz(s string) []byte {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.Bytes()
}

func TestRequests(t *testing.T) {
	t.Setenv("HTTP_SERVER_TEST_TOKEN", "s3cret")
	s := start(t, Config{Codec: "ndjson", MaxBodyBytes: 1024, MaxRecordBytes: 100, TokenEnv: "HTTP_SERVER_TEST_TOKEN"})
	got := consume(t, s, ok)
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	withGzip := map[string]string{"Authorization": "Bearer s3cret", "Content-Encoding": "gzip"}
	tests := []struct {
		name   string
		path   string
		body   []byte
		hdr    map[string]string
		code   int
		recs   []string // the records the pipeline must get (nil: none)
		record int      // the line a 400 names
	}{
		{name: "ndjson", body: []byte("{\"a\":1}\n\n  {\"b\":2}  \r\n"), hdr: auth, code: 200, recs: []string{`{"a":1}`, `{"b":2}`}},
		{name: "gzip", body: gz("{\"z\":1}\n{\"z\":2}"), hdr: withGzip, code: 200, recs: []string{`{"z":1}`, `{"z":2}`}},
		{name: "empty body", body: nil, hdr: auth, code: 200},
		{name: "no token", body: []byte("{}\n"), code: 401},
		{name: "wrong token", body: []byte("{}\n"), hdr: map[string]string{"Authorization": "Bearer nope"}, code: 401},
		{name: "basic auth", body: []byte("{}\n"), hdr: map[string]string{"Authorization": "Basic czNjcmV0"}, code: 401},
		{name: "over limit", body: bytes.Repeat([]byte("{}\n"), 400), hdr: auth, code: 413},
		{name: "gzip over limit after decompression", body: gz(strings.Repeat("{}\n", 400)), hdr: withGzip, code: 413},
		{name: "bad gzip", body: []byte("not gzip"), hdr: withGzip, code: 400},
		{name: "unknown encoding", body: []byte("{}"), hdr: map[string]string{"Authorization": "Bearer s3cret", "Content-Encoding": "br"}, code: 415},
		{name: "not json", body: []byte("{}\n{oops\n"), hdr: auth, code: 400, record: 2},
		{name: "record too large", body: []byte("{}\n\"" + strings.Repeat("x", 120) + "\"\n"), hdr: auth, code: 400, record: 2},
		{name: "wrong path", path: "/other", body: []byte("{}"), hdr: auth, code: 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := "http://" + s.Addr() + "/"
			if tt.path != "" {
				url = "http://" + s.Addr() + tt.path
			}
			r := post(t, url, tt.body, tt.hdr)
			if r.code != tt.code {
				t.Fatalf("status %d (%+v), want %d", r.code, r.body, tt.code)
			}
			if tt.code == 401 && r.hdr.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if r.body.Record != tt.record {
				t.Errorf("answer names record %d, want %d (%s)", r.body.Record, tt.record, r.body.Error)
			}
			if tt.code != 200 && r.body.Error == "" {
				t.Error("error answer without error message")
			}
			if tt.recs == nil {
				select {
				case recs := <-got:
					t.Fatalf("pipeline got records %q from a refused request", recs)
				default:
				}
				return
			}
			if r.body.Records != len(tt.recs) {
				t.Errorf("answer says %d records, want %d", r.body.Records, len(tt.recs))
			}
			recs := <-got
			if len(recs) != len(tt.recs) {
				t.Fatalf("pipeline got %q, want %q", recs, tt.recs)
			}
			for i := range recs {
				if string(recs[i]) != tt.recs[i] {
					t.Errorf("record %d: %q, want %q", i, recs[i], tt.recs[i])
				}
			}
		})
	}
	// A chunked body (no Content-Length) over the limit is cut at the limit.
	pr, pw := io.Pipe()
	go func() {
		for range 100 {
			if _, err := pw.Write(bytes.Repeat([]byte("{}\n"), 10)); err != nil {
				return
			}
		}
		pw.Close()
	}()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.Addr()+"/", pr)
	req.Header.Set("Authorization", "Bearer s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 413 {
		t.Errorf("chunked body over the limit: status %d, want 413", resp.StatusCode)
	}
	// GET is not allowed.
	resp, err = http.Get("http://" + s.Addr() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET: status %d Allow %q, want 405 POST", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestLines(t *testing.T) {
	s := start(t, Config{Codec: "lines"})
	got := consume(t, s, ok)
	r := post(t, s.URL(), []byte("a\n\nb c\r\nlast"), nil)
	if r.code != 200 || r.body.Records != 4 {
		t.Fatalf("status %d, %d records, want 200 and 4", r.code, r.body.Records)
	}
	want := []string{"a", "", "b c\r", "last"}
	recs := <-got
	for i := range want {
		if string(recs[i]) != want[i] {
			t.Errorf("record %d: %q, want %q", i, recs[i], want[i])
		}
	}
}

func TestFailedAck(t *testing.T) {
	s := start(t, Config{})
	consume(t, s, func(recs [][]byte) Result {
		return Result{Err: errors.New("stage x failed"), Failed: []Failure{{Index: 1, Error: "boom"}}}
	})
	r := post(t, s.URL(), []byte("a\nb\n"), nil)
	if r.code != 500 {
		t.Fatalf("status %d, want 500", r.code)
	}
	if r.body.Error != "stage x failed" || len(r.body.Failed) != 1 || r.body.Failed[0].Index != 1 {
		t.Errorf("answer %+v does not say which record failed", r.body)
	}
}

// waitQueued waits until n requests are queued.
func waitQueued(t *testing.T, s *Server, n int) {
	t.Helper()
	for len(s.queue) < n {
		time.Sleep(time.Millisecond)
	}
}

func TestQueueFull(t *testing.T) {
	s := start(t, Config{Queue: 1, RetryAfter: 1500 * time.Millisecond})
	first := make(chan reply, 1)
	go func() { first <- post(t, s.URL(), []byte("one\n"), nil) }()
	waitQueued(t, s, 1) // nobody takes it: the queue is full
	r := post(t, s.URL(), []byte("two\n"), nil)
	if r.code != 429 || r.hdr.Get("Retry-After") != "2" {
		t.Fatalf("status %d Retry-After %q, want 429 and 2", r.code, r.hdr.Get("Retry-After"))
	}
	if s.TooMany.Load() != 1 {
		t.Errorf("TooMany = %d, want 1", s.TooMany.Load())
	}
	// Once the pipeline takes the queued request, it is answered 200.
	req, err := s.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	req.Ack(Result{})
	if r := <-first; r.code != 200 {
		t.Errorf("queued request: status %d, want 200", r.code)
	}
}

func TestStop(t *testing.T) {
	s := start(t, Config{Queue: 4})
	queued := make(chan reply, 1)
	taken := make(chan reply, 1)
	go func() { taken <- post(t, s.URL(), []byte("taken\n"), nil) }()
	waitQueued(t, s, 1)
	inPipeline, err := s.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	go func() { queued <- post(t, s.URL(), []byte("queued\n"), nil) }()
	waitQueued(t, s, 1)
	s.Stop()
	// The request the pipeline never took answers 503 at once.
	if r := <-queued; r.code != 503 || r.hdr.Get("Retry-After") == "" {
		t.Errorf("queued request at stop: status %d, want 503 with Retry-After", r.code)
	}
	// New requests are refused.
	if r := post(t, s.URL(), []byte("late\n"), nil); r.code != 503 {
		t.Errorf("request after stop: status %d, want 503", r.code)
	}
	if _, err := s.Next(context.Background()); err != io.EOF {
		t.Errorf("Next after stop: %v, want io.EOF", err)
	}
	// The request in the pipeline is answered when it is acknowledged.
	inPipeline.Ack(Result{})
	if r := <-taken; r.code != 200 {
		t.Errorf("request in flight at stop: status %d, want 200", r.code)
	}
}

func TestCloseAnswersUnacknowledged(t *testing.T) {
	s := start(t, Config{})
	res := make(chan reply, 1)
	go func() { res <- post(t, s.URL(), []byte("x\n"), nil) }()
	waitQueued(t, s, 1)
	if _, err := s.Next(context.Background()); err != nil { // taken, never acknowledged
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.Close(ctx)
	if r := <-res; r.code != 503 {
		t.Errorf("unacknowledged request at close: status %d, want 503", r.code)
	}
}

func TestAckTimeout(t *testing.T) {
	s := start(t, Config{Timeout: time.Millisecond})
	end := make(chan struct{})
	defer close(end)
	go func() {
		r, err := s.Next(context.Background())
		if err == nil {
			<-end // not acknowledged before the answer
			r.Ack(Result{})
		}
	}()
	if r := post(t, s.URL(), []byte("x\n"), nil); r.code != 504 {
		t.Errorf("status %d, want 504", r.code)
	}
}

func TestTLSAndTokenFile(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	tokFile := filepath.Join(dir, "token")
	os.WriteFile(tokFile, []byte("  file-token\n"), 0o600)
	s := start(t, Config{TLSCert: certFile, TLSKey: keyFile, TokenFile: tokFile})
	consume(t, s, ok)
	if !strings.HasPrefix(s.URL(), "https://") {
		t.Fatalf("URL %s is not https", s.URL())
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	for _, tc := range []struct {
		tok  string
		code int
	}{{"file-token", 200}, {"other", 401}} {
		req, _ := http.NewRequest(http.MethodPost, s.URL(), strings.NewReader("a\n"))
		req.Header.Set("Authorization", "Bearer "+tc.tok)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.code {
			t.Errorf("token %q: status %d, want %d", tc.tok, resp.StatusCode, tc.code)
		}
	}
	// Plain HTTP to the TLS port does not get in.
	if resp, err := http.Post("http://"+s.Addr()+"/", "text/plain", strings.NewReader("a\n")); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP request to a TLS server answered 200")
		}
	}
}

func TestConfigErrors(t *testing.T) {
	tests := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"csv codec", Config{Codec: "csv"}, fieldCodec},
		{"both tokens", Config{TokenEnv: "A", TokenFile: "b"}, fieldTokenFile},
		{"cert without key", Config{TLSCert: "c"}, fieldTLSCert},
		{"key without cert", Config{TLSKey: "k"}, fieldTLSKey},
		{"relative path", Config{Path: "ingest"}, fieldPath},
		{"negative queue", Config{Queue: -1}, fieldQueue},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("error %v, want one about %s", err, tt.field)
			}
		})
	}
	// Open-time errors: a token variable that is not set, a busy port.
	s, _ := New(Config{Address: "127.0.0.1:0", TokenEnv: "HTTP_SERVER_TEST_UNSET"})
	var fe *FieldError
	if err := s.Open(context.Background()); !errors.As(err, &fe) || fe.Field != fieldTokenEnv {
		t.Errorf("unset token variable: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	s, _ = New(Config{Address: ln.Addr().String()})
	if err := s.Open(context.Background()); !errors.As(err, &fe) || fe.Field != fieldAddress {
		t.Errorf("busy port: %v", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key to dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pipe test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestReadingBounded: while cap(queue) bodies are being received, another
// request answers 429 without its body being read.
func TestReadingBounded(t *testing.T) {
	s := start(t, Config{Queue: 1})
	consume(t, s, ok)
	pr, pw := io.Pipe()
	slow := make(chan int, 1)
	go func() {
		resp, err := http.Post(s.URL(), "text/plain", pr) // chunked, still being sent
		if err != nil {
			slow <- 0
			return
		}
		resp.Body.Close()
		slow <- resp.StatusCode
	}()
	pw.Write([]byte("first part\n"))
	for len(s.reading) < 1 { // the slow body holds the one reading slot
		time.Sleep(time.Millisecond)
	}
	if r := post(t, s.URL(), []byte("other\n"), nil); r.code != 429 {
		t.Errorf("status %d while the reading slot is taken, want 429", r.code)
	}
	pw.Write([]byte("last part\n"))
	pw.Close()
	if code := <-slow; code != 200 {
		t.Errorf("slow body: status %d, want 200", code)
	}
}
