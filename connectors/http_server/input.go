package httpserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/stage"
)

// Type is the http_server input's registration (engine.RegisterInput).
var Type = connector.InputType{
	Name:    "http_server",
	Summary: "receive records in HTTP POST bodies (lines or NDJSON, gzip); answer 200 once they are delivered",
	Doc: "Each POST body is one batch: its records (split by the input's `codec:`: lines, ndjson or raw; under csv and logfmt each line, " +
		"decoded by the engine, with csv's `columns:` naming the fields; " +
		"`Content-Encoding: gzip` decompressed) enter the pipeline together, and the request is answered when the " +
		"pipeline acknowledged them: **200** once every record was written by the output, dropped or dead-lettered; " +
		"**500** with a JSON body when a record failed or the output gave up, **503** when the run stopped before " +
		"delivering them, **504** when `timeout` passed first. A 200 therefore never stands for records that were " +
		"not written; an error answer may stand for records that were (retries can duplicate).\n\n" +
		"A body over `max_body_bytes` answers 413, a body that is not valid NDJSON under `codec: ndjson` 400 " +
		"(nothing of it enters the pipeline), a missing or wrong bearer token 401, and a full `queue` 429 with " +
		"`Retry-After`. On SIGTERM the server stops taking requests (503), answers the queued ones that the pipeline " +
		"did not take with 503, and answers those in flight once they are delivered.\n\n" +
		"Every answer is JSON: `{\"records\": N}`, plus `\"error\"` (and `\"record\"`, the line a 400 is about) when it is not 200.",
	Config: Config{},
	Examples: []connector.Example{
		{Title: "NDJSON over HTTP with a token", YAML: "input: {type: http_server, address: 0.0.0.0:8080, path: /ingest, codec: ndjson, bearer_token_env: INGEST_TOKEN}"},
		{Title: "HTTPS", YAML: "input: {type: http_server, address: 0.0.0.0:8443, tls_cert_file: tls/server.crt, tls_key_file: tls/server.key}"},
	},
	New: newInput,
}

// input adapts a Server to connector.BatchReader.
type input struct {
	srv  *Server
	read int64 // records handed to the engine so far (it numbers them 1, 2, ...)
	env  connector.Env
	cfg  stage.Config // for errors positioned at a field, found at Connect
}

func newInput(cfg stage.Config, env connector.Env) (connector.Input, error) {
	var c Config
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	c.Codec = env.Codec
	if env.Resolve != nil {
		c.TokenFile, c.TLSCert, c.TLSKey = env.Resolve(c.TokenFile), env.Resolve(c.TLSCert), env.Resolve(c.TLSKey)
	}
	srv, err := New(c)
	if err != nil {
		return nil, configErr(cfg, err)
	}
	if c.TokenEnv != "" { // no I/O: checked when the pipeline is built
		if _, err := c.token(); err != nil {
			return nil, configErr(cfg, err)
		}
	}
	if env.Stats != nil {
		srv.OnAnswer = func(status int) { env.Stats.Event("status_" + strconv.Itoa(status)) }
	}
	return &input{srv: srv, env: env, cfg: cfg}, nil
}

// configErr positions a *FieldError at its field in the pipeline file.
func configErr(cfg stage.Config, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		return cfg.Errorf(fe.Field, "%v", fe.Err)
	}
	return err
}

// Server returns the input's server (its address, counts).
func (in *input) Server() *Server { return in.srv }

func (in *input) Connect(ctx context.Context) error {
	if err := in.srv.Open(ctx); err != nil {
		// The token file, the certificate, the address: a field's value
		// cannot be used.
		return configErr(in.cfg, err)
	}
	if in.env.Logger != nil {
		in.env.Logger.Info("http_server listening", "url", in.srv.URL())
	}
	return nil
}

// ReadBatch returns the records of the next request. When ctx ends (the
// run stops taking input) the server stops: new requests answer 503.
func (in *input) ReadBatch(ctx context.Context) (connector.Batch, connector.AckFunc, error) {
	req, err := in.srv.Next(ctx)
	switch {
	case err == io.EOF:
		return connector.Batch{}, nil, connector.ErrEndOfInput
	case err != nil:
		in.srv.Stop()
		return connector.Batch{}, nil, err
	}
	recs := make([]stage.Record, len(req.Records))
	ptrs := make([]*stage.Record, len(req.Records))
	for i, data := range req.Records {
		recs[i].Data = data
		ptrs[i] = &recs[i]
	}
	base := in.read
	in.read += int64(len(ptrs))
	ack := func(_ context.Context, err error) error {
		res := Result{Err: err}
		var se *stage.StageError
		if errors.As(err, &se) && se.Err != nil && se.Record > base && se.Record <= base+int64(len(ptrs)) {
			// The engine named the record: say which line of the body.
			res.Failed = []Failure{{Index: int(se.Record - base - 1), Error: se.Err.Error()}}
		}
		if err != nil && (errors.Is(err, connector.ErrNotDelivered) || errors.Is(err, context.Canceled)) {
			res.Err = fmt.Errorf("%w: %w", ErrStopped, err)
		}
		req.Ack(res)
		return nil
	}
	return connector.Batch{Records: ptrs}, ack, nil
}

// Close refuses new requests, answers those not delivered with 503 and
// closes the listener. The engine calls it after every acknowledgement,
// so the requests in flight are answered by then.
func (in *input) Close(ctx context.Context) error { return in.srv.Close(ctx) }

var _ connector.BatchReader = (*input)(nil)
