package httpout

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/pipe-dev/pipe/stage"
)

// StatusError is a request the destination answered with a status other
// than 2xx.
type StatusError struct {
	Code int
	// Body is the start of the answer's body, for the error message.
	Body string
	// RetryAfter is what the answer's Retry-After header asked for (0: none).
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	msg := fmt.Sprintf("status %d %s", e.Code, http.StatusText(e.Code))
	if e.Body != "" {
		msg += ": " + e.Body
	}
	return msg
}

// Transient reports whether sending the request again can succeed: 408,
// 429 and 5xx are transient; every other status is permanent.
func (e *StatusError) Transient() bool {
	return e.Code == http.StatusRequestTimeout || e.Code == http.StatusTooManyRequests || e.Code >= 500
}

// Client sends encoded batches to the configured URL. It does not retry:
// the caller's retry policy does, told by the errors what is permanent
// (*StatusError.Transient) and how long the destination asked it to wait.
type Client struct {
	cfg    Config
	codec  string
	token  string
	client *http.Client
	ctype  string

	healthy atomic.Pointer[error] // the last request's error; nil: healthy
	// zws pools gzip writers. Bodies are not pooled: the transport may
	// still read a request's body after Do returned (an early answer).
	zws sync.Pool

	// Requests and Failed count the requests sent and those that failed.
	Requests, Failed atomic.Int64

	// OnResponse, if set before Connect, is called after every request
	// with the answer's status, 0 when there was no answer (a connection
	// error, a timeout).
	OnResponse func(status int)
}

// New checks cfg and returns a client for records framed by codec (lines,
// ndjson or raw). It does no I/O.
func New(cfg Config, codec string) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch codec {
	case "", "lines", "ndjson", "raw":
	default:
		return nil, fieldErr("codec", fmt.Errorf("%q: the http output writes lines, ndjson or raw", codec))
	}
	if codec == "" {
		codec = "lines"
	}
	c := &Client{cfg: cfg.withDefaults(), codec: codec}
	switch codec {
	case "ndjson":
		c.ctype = "application/x-ndjson"
	case "lines":
		c.ctype = "text/plain; charset=utf-8"
	default:
		c.ctype = "application/octet-stream"
	}
	return c, nil
}

// Connect reads the token file or variable and prepares the connection
// pool. It does not contact the destination: a destination that is down
// at start is found by the first write, which the retry policy retries.
func (c *Client) Connect(ctx context.Context) error {
	tok, err := c.cfg.token()
	if err != nil {
		return err
	}
	c.token = tok
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if c.cfg.TLSCA != "" {
		pem, err := os.ReadFile(c.cfg.TLSCA)
		if err != nil {
			return fieldErr("tls_ca_file", fmt.Errorf("read: %w", err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fieldErr("tls_ca_file", fmt.Errorf("%s holds no PEM certificate", c.cfg.TLSCA))
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	tr.MaxIdleConnsPerHost = 16
	tr.ResponseHeaderTimeout = c.cfg.Timeout
	c.client = &http.Client{Transport: tr, Timeout: c.cfg.Timeout, CheckRedirect: keepMethod}
	return nil
}

// Close closes idle connections.
func (c *Client) Close(ctx context.Context) error {
	if c.client != nil {
		c.client.CloseIdleConnections()
	}
	return nil
}

// Healthy returns the error of the last request, nil when it succeeded.
func (c *Client) Healthy() error {
	if p := c.healthy.Load(); p != nil {
		return *p
	}
	return nil
}

// Write sends recs in order, in as many requests as the batch limits
// need, one after the other. It returns nil only when the destination
// answered 2xx to every request; otherwise the first failing request's
// error (a *StatusError, a transport error, or ctx's error), and the
// requests after it are not sent. Under the raw codec each record is one
// request.
func (c *Client) Write(ctx context.Context, recs []*stage.Record) error {
	for len(recs) > 0 {
		var body bytes.Buffer
		n := c.fill(&body, recs)
		if err := c.send(ctx, body.Bytes(), n); err != nil {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// fill encodes the records that fit one request into buf and returns how
// many (at least one).
func (c *Client) fill(buf *bytes.Buffer, recs []*stage.Record) int {
	if c.codec == "raw" {
		buf.Write(recs[0].Data)
		return 1
	}
	max := int(c.cfg.Batch.MaxBytes)
	n := 0
	for _, r := range recs {
		if n == c.cfg.Batch.MaxRecords || (n > 0 && buf.Len()+len(r.Data)+1 > max) {
			break
		}
		buf.Write(r.Data)
		buf.WriteByte('\n')
		n++
	}
	return n
}

// send makes one request of body (n records).
func (c *Client) send(ctx context.Context, body []byte, n int) error {
	if c.cfg.Compression == "gzip" {
		zbuf := bytes.NewBuffer(make([]byte, 0, len(body)/4+64))
		zw, _ := c.zws.Get().(*gzip.Writer)
		if zw == nil {
			zw, _ = gzip.NewWriterLevel(zbuf, gzip.BestSpeed)
		} else {
			zw.Reset(zbuf)
		}
		zw.Write(body) // writes to a bytes.Buffer do not fail
		zw.Close()
		c.zws.Put(zw)
		body = zbuf.Bytes()
	}
	req, err := http.NewRequestWithContext(ctx, c.cfg.Method, c.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", c.ctype)
	for k, v := range c.cfg.Headers {
		req.Header.Set(k, v)
	}
	if c.cfg.Compression == "gzip" {
		req.Header.Set("Content-Encoding", "gzip")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	c.Requests.Add(1)
	err = c.do(req)
	if err != nil {
		c.Failed.Add(1)
		c.healthy.Store(&err)
	} else {
		c.healthy.Store(nil)
	}
	return err
}

func (c *Client) do(req *http.Request) error {
	resp, err := c.client.Do(req)
	if c.OnResponse != nil {
		code := 0
		if err == nil {
			code = resp.StatusCode
		}
		c.OnResponse(code)
	}
	if err != nil {
		if ctxErr := req.Context().Err(); ctxErr != nil {
			return ctxErr
		}
		return fmt.Errorf("%s %s: %w", req.Method, redact(req.URL.String()), unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // keep the connection
		return nil
	}
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	se := &StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(snippet))}
	se.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	return fmt.Errorf("%s %s: %w", req.Method, redact(req.URL.String()), se)
}

// keepMethod follows only the redirects that keep the method and body
// (307, 308), at most 5; a 301, 302 or 303 would turn the POST into a GET
// without the records, so it is answered as it is (a permanent error).
func keepMethod(req *http.Request, via []*http.Request) error {
	if req.Response != nil && (req.Response.StatusCode == http.StatusTemporaryRedirect || req.Response.StatusCode == http.StatusPermanentRedirect) && len(via) < 5 {
		return nil
	}
	return http.ErrUseLastResponse
}

// maxRetryAfter bounds what a Retry-After header can make the output wait.
const maxRetryAfter = 5 * time.Minute

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP
// date. It returns 0 when v is empty or malformed.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	} else {
		return 0
	}
	return min(max(d, 0), maxRetryAfter)
}

// redact drops the user info of a URL for messages.
func redact(u string) string {
	if i := strings.Index(u, "@"); i >= 0 {
		if j := strings.Index(u, "://"); j >= 0 && j < i {
			return u[:j+3] + "…@" + u[i+1:]
		}
	}
	return u
}

// unwrapURLError drops *url.Error's repetition of method and URL.
func unwrapURLError(err error) error {
	var ue interface{ Unwrap() error }
	if errors.As(err, &ue) {
		if _, ok := err.(net.Error); ok {
			return ue.Unwrap()
		}
	}
	return err
}
