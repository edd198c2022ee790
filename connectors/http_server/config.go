package httpserver

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/connectors/internal/httpconf"
)

// Config is the input's section of a pipeline file (input: {type:
// http_server, ...}). Its tags are the component's spec.
type Config struct {
	Address string `yaml:"address" default:"127.0.0.1:8080" example:"0.0.0.0:8080" doc:"host:port to listen on (port 0 picks a free port)."`
	Path    string `yaml:"path" default:"/" example:"/ingest" doc:"The URL path that takes POST requests; other paths answer 404."`
	// Codec splits a body into records: lines (one record per line),
	// ndjson (one JSON value per line, blank lines skipped) or raw (the
	// body is one record). In a pipeline file it is the input's codec:
	// (lines under csv and logfmt, whose lines the engine decodes).
	Codec string `yaml:"-"`
	// MaxRecordBytes bounds one record: a body with a larger one answers
	// 400 (default: MaxBodyBytes). In a pipeline file the engine checks
	// the input's max_record_bytes: instead.
	MaxRecordBytes ByteSize      `yaml:"-"`
	MaxBodyBytes   ByteSize      `yaml:"max_body_bytes" default:"10MiB" doc:"Largest body, also after gzip decompression; larger bodies answer 413."`
	Queue          int           `yaml:"queue" default:"64" doc:"Requests accepted but not yet taken by the pipeline; when it is full, requests answer 429 with Retry-After."`
	RetryAfter     time.Duration `yaml:"retry_after" default:"1s" doc:"The Retry-After of a 429 or 503 answer (rounded up to whole seconds)."`
	Timeout        time.Duration `yaml:"timeout" default:"30s" doc:"How long a request waits for its records to be acknowledged; then it answers 504 (the records may still be delivered)."`
	TokenEnv       string        `yaml:"bearer_token_env" example:"PIPE_HTTP_TOKEN" doc:"Environment variable holding the bearer token requests must send (Authorization: Bearer TOKEN); others answer 401."`
	TokenFile      string        `yaml:"bearer_token_file" example:"secrets/http-token" doc:"File holding the bearer token (surrounding white space ignored), instead of bearer_token_env."`
	TLSCert        string        `yaml:"tls_cert_file" example:"tls/server.crt" doc:"PEM certificate file: serve HTTPS (needs tls_key_file)."`
	TLSKey         string        `yaml:"tls_key_file" example:"tls/server.key" doc:"PEM private key file of tls_cert_file."`
}

// Field names, for errors.
const (
	fieldAddress   = "address"
	fieldCodec     = "codec"
	fieldQueue     = "queue"
	fieldTokenEnv  = httpconf.TokenEnv
	fieldTokenFile = httpconf.TokenFile
	fieldTLSCert   = "tls_cert_file"
	fieldTLSKey    = "tls_key_file"
	fieldPath      = "path"
)

// ByteSize is a size in bytes; in a pipeline file it reads "512", "64KiB",
// "10MiB" (the engine decodes every int64 type whose ConfigType is
// component.Size so).
type ByteSize int64

// ConfigType implements component.Typer: the field is documented as a size.
func (ByteSize) ConfigType() string { return component.Size }

// FieldError is a configuration error about one field.
type FieldError = httpconf.FieldError

func fieldErr(field string, err error) error { return &FieldError{Field: field, Err: err} }

// withDefaults fills what a Config built in Go code left zero.
func (c Config) withDefaults() Config {
	if c.Address == "" {
		c.Address = "127.0.0.1:8080"
	}
	if c.Path == "" {
		c.Path = "/"
	}
	if c.Codec == "" {
		c.Codec = "lines"
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 10 << 20
	}
	if c.MaxRecordBytes <= 0 {
		c.MaxRecordBytes = c.MaxBodyBytes
	}
	if c.Queue == 0 {
		c.Queue = 64
	}
	if c.RetryAfter <= 0 {
		c.RetryAfter = time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	return c
}

// Validate checks the configuration without I/O.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := httpconf.CheckToken(c.TokenEnv, c.TokenFile); err != nil {
		return err
	}
	switch {
	case c.Codec != "lines" && c.Codec != "ndjson" && c.Codec != "raw":
		return fieldErr(fieldCodec, fmt.Errorf("codec %q: the http_server input takes lines, ndjson or raw", c.Codec))
	case c.Queue < 0:
		return fieldErr(fieldQueue, errors.New("must not be negative"))
	case !strings.HasPrefix(c.Path, "/"):
		return fieldErr(fieldPath, fmt.Errorf("path %q must start with /", c.Path))
	case (c.TLSCert == "") != (c.TLSKey == ""):
		if c.TLSCert == "" {
			return fieldErr(fieldTLSKey, errors.New("tls_key_file needs tls_cert_file"))
		}
		return fieldErr(fieldTLSCert, errors.New("tls_cert_file needs tls_key_file"))
	}
	return nil
}

// token reads the bearer token ("" when none is configured).
func (c Config) token() (string, error) {
	return httpconf.Token(c.TokenEnv, c.TokenFile)
}

// tlsConfig loads the certificate (nil when TLS is not configured).
func (c Config) tlsConfig() (*tls.Config, error) {
	if c.TLSCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
	if err != nil {
		return nil, fieldErr(fieldTLSCert, fmt.Errorf("load certificate: %w", err))
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}
