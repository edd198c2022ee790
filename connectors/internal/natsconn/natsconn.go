// Package natsconn holds what the NATS connectors (nats, nats_jetstream)
// share: the connection fields of their config, the connection itself
// (authentication, TLS, reconnection with backoff) and its health.
package natsconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/connectors/internal/tmpl"
)

// Config are the connection fields of a NATS input or output (inlined
// into their configs).
type Config struct {
	URLs      []string `yaml:"urls" required:"true" example:"[nats://127.0.0.1:4222]" doc:"Server URLs; the client picks one and fails over to the others."`
	Name      string   `yaml:"client_name" doc:"The connection name the server shows (default: pipe)."`
	CredsFile string   `yaml:"creds_file" doc:"A credentials file (user JWT and nkey seed), relative to the pipeline file."`
	NKeyFile  string   `yaml:"nkey_file" doc:"A file holding a user nkey seed (SU...), relative to the pipeline file."`
	Token     string   `yaml:"token" doc:"An authorization token (write ${NATS_TOKEN} to keep it out of the file)."`
	User      string   `yaml:"user" doc:"A user name (with password)."`
	Password  string   `yaml:"password" doc:"The user's password (write ${NATS_PASSWORD})."`
	TLS       *TLS     `yaml:"tls" doc:"TLS settings; nats:// URLs upgrade to TLS when the server asks for it."`

	ConnectTimeout   time.Duration `yaml:"connect_timeout" default:"10s" doc:"How long the first connection is retried (with backoff) before the run fails; 0: one attempt."`
	ReconnectWait    time.Duration `yaml:"reconnect_wait" default:"100ms" doc:"First wait before a reconnection attempt; it doubles (with jitter) up to max_reconnect_wait. The client reconnects for ever."`
	MaxReconnectWait time.Duration `yaml:"max_reconnect_wait" default:"5s" doc:"Longest wait between two reconnection attempts."`
}

// TLS are the TLS settings.
type TLS struct {
	CAFile             string `yaml:"ca_file" doc:"PEM file of the CAs that sign the server's certificate (default: the system's)."`
	CertFile           string `yaml:"cert_file" doc:"PEM client certificate, for servers that verify clients."`
	KeyFile            string `yaml:"key_file" doc:"PEM key of cert_file."`
	ServerName         string `yaml:"server_name" doc:"The name to verify the server's certificate against (default: the URL's host)."`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" default:"false" doc:"Do not verify the server's certificate (tests only)."`
}

// Validate checks c without I/O; resolve makes paths relative to the
// pipeline file absolute. It returns the key and message of the first
// problem (the caller positions it).
func (c *Config) Validate(resolve func(string) string) (key string, err error) {
	if len(c.URLs) == 0 {
		return "urls", errors.New("at least one server URL is needed")
	}
	for _, u := range c.URLs {
		if !strings.Contains(u, "://") && strings.Contains(u, " ") {
			return "urls", fmt.Errorf("%q is not a URL", u)
		}
	}
	auth := 0
	for _, s := range []string{c.CredsFile, c.NKeyFile, c.Token, c.User} {
		if s != "" {
			auth++
		}
	}
	if auth > 1 {
		return "creds_file", errors.New("give one of creds_file, nkey_file, token and user")
	}
	if c.Password != "" && c.User == "" {
		return "password", errors.New("password needs user")
	}
	if c.ReconnectWait <= 0 {
		c.ReconnectWait = 100 * time.Millisecond
	}
	if c.MaxReconnectWait < c.ReconnectWait {
		c.MaxReconnectWait = c.ReconnectWait
	}
	if resolve != nil {
		c.CredsFile = resolvePath(resolve, c.CredsFile)
		c.NKeyFile = resolvePath(resolve, c.NKeyFile)
		if c.TLS != nil {
			c.TLS.CAFile = resolvePath(resolve, c.TLS.CAFile)
			c.TLS.CertFile = resolvePath(resolve, c.TLS.CertFile)
			c.TLS.KeyFile = resolvePath(resolve, c.TLS.KeyFile)
		}
	}
	if c.TLS != nil && (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		return "tls", errors.New("cert_file and key_file go together")
	}
	return "", nil
}

func resolvePath(resolve func(string) string, p string) string {
	if p == "" {
		return ""
	}
	return resolve(p)
}

// Conn is a NATS connection that reconnects by itself.
type Conn struct {
	*nats.Conn
	url  string
	errs atomic.Pointer[error] // the last asynchronous error
}

// Backoff returns the wait before reconnection attempt n (1-based):
// initial doubling up to max, with ±20% jitter.
func Backoff(n int, initial, max time.Duration) time.Duration {
	d := initial
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

// Connect connects, retrying with backoff until c.ConnectTimeout has passed
// or ctx is done. Errors that retrying cannot fix (authorization, TLS,
// unreadable files) return at once.
func Connect(ctx context.Context, c *Config, log *slog.Logger) (*Conn, error) {
	conn := &Conn{url: strings.Join(c.URLs, ",")}
	opts, err := c.options(conn, log)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(c.ConnectTimeout)
	for attempt := 1; ; attempt++ {
		nc, err := nats.Connect(conn.url, opts...)
		if err == nil {
			conn.Conn = nc
			return conn, nil
		}
		if Permanent(err) || time.Now().After(deadline) {
			return nil, fmt.Errorf("connect %s: %w", redact(conn.url), err)
		}
		wait := Backoff(attempt, c.ReconnectWait, c.MaxReconnectWait)
		if log != nil {
			log.Warn("nats connect failed, retrying", "url", redact(conn.url), "err", err, "wait", wait)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("connect %s: %w (%w)", redact(conn.url), ctx.Err(), err)
		case <-time.After(min(wait, time.Until(deadline)+time.Millisecond)):
		}
	}
}

// Permanent reports whether a connection error is one retrying cannot fix.
func Permanent(err error) bool {
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) ||
		errors.Is(err, nats.ErrNkeysNotSupported) || errors.Is(err, os.ErrNotExist) {
		return true
	}
	var cert x509.UnknownAuthorityError
	var host x509.HostnameError
	return errors.As(err, &cert) || errors.As(err, &host) || strings.Contains(err.Error(), "tls:")
}

func (c *Config) options(conn *Conn, log *slog.Logger) ([]nats.Option, error) {
	name := c.Name
	if name == "" {
		name = "pipe"
	}
	initial, max := c.ReconnectWait, c.MaxReconnectWait
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.CustomReconnectDelay(func(n int) time.Duration { return Backoff(n, initial, max) }),
		nats.ReconnectBufSize(8 << 20),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if log != nil && err != nil { // nil: closed by us
				log.Warn("nats disconnected", "url", redact(conn.url), "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			if log != nil {
				log.Info("nats reconnected", "url", redact(nc.ConnectedUrlRedacted()))
			}
		}),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			conn.errs.Store(&err)
			if log != nil {
				log.Warn("nats error", "err", err)
			}
		}),
	}
	switch {
	case c.CredsFile != "":
		if _, err := os.Stat(c.CredsFile); err != nil {
			return nil, fmt.Errorf("creds_file: %w", err)
		}
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nkey_file: %w", err)
		}
		opts = append(opts, o)
	case c.Token != "":
		opts = append(opts, nats.Token(c.Token))
	case c.User != "":
		opts = append(opts, nats.UserInfo(c.User, c.Password))
	}
	if t := c.TLS; t != nil {
		cfg := &tls.Config{ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("tls ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("tls ca_file %s: no PEM certificate in it", t.CAFile)
			}
			cfg.RootCAs = pool
		}
		if t.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("tls cert_file: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, nats.Secure(cfg))
	}
	return opts, nil
}

// Healthy returns an error while the connection is not connected (it is
// reconnecting, or closed).
func (c *Conn) Healthy() error {
	if c == nil || c.Conn == nil {
		return errors.New("not connected")
	}
	if s := c.Status(); s != nats.CONNECTED {
		return fmt.Errorf("nats %s: %s", redact(c.url), strings.ToLower(s.String()))
	}
	return nil
}

// redact hides passwords and tokens in URLs for logs and errors.
func redact(urls string) string {
	parts := strings.Split(urls, ",")
	for i, u := range parts {
		if at := strings.LastIndex(u, "@"); at >= 0 {
			if s := strings.Index(u, "://"); s >= 0 && s < at {
				parts[i] = u[:s+3] + "[redacted]" + u[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// Output is what every NATS output checks and keeps before it connects:
// the subject template and a logger (never nil).
type Output struct {
	Subject tmpl.Template
	Log     *slog.Logger
}

// NewOutput validates the connection fields c and the subject template
// (no I/O). On a problem it returns the key of the field at fault.
func NewOutput(c *Config, subject string, env connector.Env) (Output, string, error) {
	if key, err := c.Validate(env.Resolve); err != nil {
		return Output{}, key, err
	}
	if subject == "" {
		return Output{}, "subject", errors.New("a subject is needed")
	}
	t, err := tmpl.Parse(subject)
	if err == nil {
		err = t.CheckCodec(env.TextCodec)
	}
	if err != nil {
		return Output{}, "subject", err
	}
	log := env.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return Output{Subject: t, Log: log}, "", nil
}

// Header returns the record's metadata as message headers, leaving out
// the keys skip reports (the metadata inputs set, say); nil when none is
// left.
func Header(meta map[string]string, skip func(string) bool) nats.Header {
	var h nats.Header
	for k, v := range meta {
		if !skip(k) {
			if h == nil {
				h = nats.Header{}
			}
			h[k] = []string{v}
		}
	}
	return h
}
