package httpout

import (
	"context"
	"crypto/tls"
	"errors"
	"strconv"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/stage"
)

// Type is the http output's registration (engine.RegisterOutput).
var Type = connector.OutputType{
	Name:    "http",
	Summary: "POST records to a URL in batches (NDJSON or lines, optional gzip), retrying what can succeed later",
	Doc: "Records are sent in requests of at most `batch.max_records` records and `batch.max_bytes` bytes, in order, " +
		"one at a time. With `batch.linger` the records of several batches of the pipeline (a slow input hands over " +
		"one record at a time) are gathered into one request, which waits at most that long for more records after " +
		"its first; without it, what each batch brings is sent at once. The body is the records " +
		"joined by the output's codec (`ndjson`: Content-Type application/x-ndjson; `lines`: text/plain; `raw`: one " +
		"request per record). Input records are acknowledged once the request holding them was answered 2xx; a " +
		"request still lingering is sent at the end of input and when the run drains after SIGTERM.\n\n" +
		"Connection errors, timeouts, 408, 429 and 5xx are transient: the output's `retry:` policy sends the request " +
		"again with exponential backoff and jitter, waiting what a `Retry-After` header asks (up to `retry.max`). " +
		"Other statuses (400, 401, 404, 413, ...) are permanent: its records take the output's `on_error` at once " +
		"(fail, drop or dead_letter). A request whose answer was lost (a timeout) is sent again, so the destination " +
		"can see duplicates (at-least-once).\n\n" +
		"A destination that is down at start is not an error of `Connect`: the first write finds it and is retried.",
	Config: Config{},
	Examples: []connector.Example{
		{Title: "NDJSON to a collector, gzip, with a token", YAML: "output: {type: http, url: https://logs.example.com/ingest, codec: ndjson, compression: gzip, bearer_token_env: SINK_TOKEN, retry: {max_attempts: 10, initial: 200ms, max: 30s}, on_error: dead_letter}"},
	},
	New: newOutput,
}

// output adapts a Client to connector.BatchWriter.
type output struct {
	c   *Client
	cfg stage.Config // for errors positioned at a field, found at Connect
}

func newOutput(cfg stage.Config, env connector.Env) (connector.Output, error) {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if env.Resolve != nil {
		c.TokenFile, c.TLSCA = env.Resolve(c.TokenFile), env.Resolve(c.TLSCA)
	}
	cl, err := New(c, env.Codec)
	if err == nil && c.TokenEnv != "" { // no I/O: checked when the pipeline is built
		_, err = c.token()
	}
	if err != nil {
		return nil, configErr(cfg, err)
	}
	if env.Stats != nil {
		cl.OnResponse = func(status int) {
			if status == 0 {
				env.Stats.Event("connection_errors")
				return
			}
			env.Stats.Event("status_" + strconv.Itoa(status))
		}
	}
	return &output{c: cl, cfg: cfg}, nil
}

// configErr positions a *FieldError at its field in the pipeline file.
func configErr(cfg stage.Config, err error) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return err
	}
	if fe.Field == "codec" { // the engine's field: not in the output's own
		return cfg.Errorf("", "%v", fe)
	}
	return cfg.Errorf(fe.Field, "%v", fe.Err)
}

func (o *output) Connect(ctx context.Context) error { return configErr(o.cfg, o.c.Connect(ctx)) }
func (o *output) Close(ctx context.Context) error   { return o.c.Close(ctx) }

// Healthy is the last request's error: /readyz is false while the
// destination fails.
func (o *output) Healthy() error { return o.c.Healthy() }

// WriteBatch sends recs and tells the engine's retry policy what a failure
// is: permanent for statuses that retrying cannot fix, with the wait a
// Retry-After header asked for.
func (o *output) WriteBatch(ctx context.Context, recs []*stage.Record) error {
	return classify(o.c.Write(ctx, recs))
}

// BatchPolicy implements connector.Batcher: the engine groups records
// across the pipeline's batches into requests of at most batch.max_records
// records and batch.max_bytes bytes, waiting up to batch.linger for more.
// Under the raw codec every record is a request of its own.
func (o *output) BatchPolicy() connector.BatchPolicy {
	b := o.c.cfg.Batch
	if o.c.codec == "raw" {
		return connector.BatchPolicy{MaxRecords: 1}
	}
	return connector.BatchPolicy{MaxRecords: b.MaxRecords, MaxBytes: int64(b.MaxBytes), Linger: b.Linger}
}

// classify marks err for the engine's retry policy.
func classify(err error) error {
	var se *StatusError
	var cve *tls.CertificateVerificationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se) && !se.Transient(), errors.As(err, &cve):
		// Sending again cannot change the answer, nor the certificate.
		return connector.Permanent(err)
	case errors.As(err, &se) && se.RetryAfter > 0:
		return connector.RetryAfter(err, se.RetryAfter)
	}
	return err
}

var (
	_ connector.BatchWriter = (*output)(nil)
	_ connector.Health      = (*output)(nil)
	_ connector.Batcher     = (*output)(nil)
)
