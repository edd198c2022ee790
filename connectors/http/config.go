package httpout

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/connectors/internal/httpconf"
)

// Config is the output's section of a pipeline file (output: {type: http,
// ...}). Its tags are the component's spec.
type Config struct {
	URL         string            `yaml:"url" required:"true" example:"https://logs.example.com/ingest" doc:"Where the batches are sent (http or https)."`
	Method      string            `yaml:"method" default:"POST" enum:"POST,PUT" doc:"The request method."`
	Headers     map[string]string `yaml:"headers" example:"{X-Source: pipe}" doc:"Headers sent with every request (Content-Type defaults to the codec's)."`
	Compression string            `yaml:"compression" default:"none" enum:"none,gzip" doc:"gzip compresses each body (Content-Encoding: gzip)."`
	TokenEnv    string            `yaml:"bearer_token_env" example:"PIPE_SINK_TOKEN" doc:"Environment variable holding a bearer token sent as Authorization: Bearer TOKEN."`
	TokenFile   string            `yaml:"bearer_token_file" example:"secrets/sink-token" doc:"File holding the bearer token (surrounding white space ignored), instead of bearer_token_env."`
	TLSCA       string            `yaml:"tls_ca_file" example:"tls/ca.pem" doc:"PEM file of the certificate authorities an https URL's server certificate is checked against, instead of the system's."`
	Timeout     time.Duration     `yaml:"timeout" default:"30s" doc:"Limit of one request, answer included; a request that takes longer is retried."`
	Batch       BatchConfig       `yaml:"batch" doc:"How records are grouped into requests."`
}

// BatchConfig bounds the requests.
type BatchConfig struct {
	MaxRecords int           `yaml:"max_records" default:"10000" doc:"Most records in one request."`
	MaxBytes   ByteSize      `yaml:"max_bytes" default:"1MiB" doc:"Most bytes (before compression) in one request; a larger single record is sent alone."`
	Linger     time.Duration `yaml:"linger" default:"0s" example:"500ms" doc:"How long a request's first record waits for more records (from later batches of the pipeline) before the request is sent; its input records are acknowledged only after the request succeeded. 0 sends what each batch of the pipeline brings at once."`
}

// ByteSize is a size in bytes; in a pipeline file it reads "512", "64KiB",
// "10MiB" (the engine decodes every int64 type whose ConfigType is
// component.Size so).
type ByteSize int64

// ConfigType implements component.Typer: the field is documented as a size.
func (ByteSize) ConfigType() string { return component.Size }

// FieldError is a configuration error about one field.
type FieldError = httpconf.FieldError

func fieldErr(field string, err error) error { return &FieldError{Field: field, Err: err} }

func (c Config) withDefaults() Config {
	if c.Method == "" {
		c.Method = "POST"
	}
	if c.Compression == "" {
		c.Compression = "none"
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Batch.MaxRecords <= 0 {
		c.Batch.MaxRecords = 10000
	}
	if c.Batch.MaxBytes <= 0 {
		c.Batch.MaxBytes = 1 << 20
	}
	return c
}

// Validate checks the configuration without I/O.
func (c Config) Validate() error {
	c = c.withDefaults()
	if err := httpconf.CheckToken(c.TokenEnv, c.TokenFile); err != nil {
		return err
	}
	u, err := url.Parse(c.URL)
	switch {
	case c.URL == "":
		return fieldErr("url", errors.New("is required"))
	case err != nil:
		return fieldErr("url", err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fieldErr("url", fmt.Errorf("%q: scheme must be http or https", c.URL))
	case u.Host == "":
		return fieldErr("url", fmt.Errorf("%q has no host", c.URL))
	case c.Method != "POST" && c.Method != "PUT":
		return fieldErr("method", fmt.Errorf("%q: use POST or PUT", c.Method))
	case c.Batch.Linger < 0:
		return fieldErr("batch", fmt.Errorf("linger %v must not be negative", c.Batch.Linger))
	case c.Compression != "none" && c.Compression != "gzip":
		return fieldErr("compression", fmt.Errorf("%q: use none or gzip", c.Compression))
	}
	for k := range c.Headers {
		if strings.EqualFold(k, "Content-Encoding") || strings.EqualFold(k, "Content-Length") {
			return fieldErr("headers", fmt.Errorf("%s is set by the output", k))
		}
	}
	return nil
}

// token reads the bearer token ("" when none is configured).
func (c Config) token() (string, error) {
	return httpconf.Token(c.TokenEnv, c.TokenFile)
}
