package httpserver_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/connector/connectortest"
	"github.com/pipe-dev/pipe/engine"
)

// The csv and logfmt codecs on a records input (http_server) and a
// records output (an in-memory connector.BatchWriter): each body line is
// decoded into its NDJSON record, each record written as its own line.
func TestTextCodecs(t *testing.T) {
	cases := []struct {
		name, yaml, body string
		status           int
		want             []string
	}{
		{
			name: "csv in, ndjson out",
			yaml: `input: {type: http_server, address: ADDR, codec: csv, csv: {columns: [id, level, msg], header: true}, on_error: drop}
output: {type: mem, codec: ndjson}`,
			// the header row is skipped, the row with an unterminated
			// quote is a record error (dropped), a blank line no record
			body:   "id,level,msg\n1,info,hello\n2,error,\"a, \"\"b\"\"\"\n3,warn,\"open\n\n4,info,\n",
			status: http.StatusOK,
			want:   []string{`{"id":"1","level":"info","msg":"hello"}`, `{"id":"2","level":"error","msg":"a, \"b\""}`, `{"id":"4","level":"info","msg":""}`},
		},
		{
			name: "logfmt in, csv out",
			yaml: `input: {type: http_server, address: ADDR, codec: logfmt}
output: {type: mem, codec: csv, csv: {columns: [level, msg, n]}}`,
			body:   "level=info msg=\"hello, world\" n=1\nlevel=error n=2 extra=x\n",
			status: http.StatusOK,
			want:   []string{`info,"hello, world",1`, `error,,2`},
		},
		{
			name: "ndjson in, logfmt out",
			yaml: `input: {type: http_server, address: ADDR, codec: ndjson}
output: {type: mem, codec: logfmt}
stages: [{name: up, type: native, use: case, config: {field: msg, to: upper}}]`,
			body:   `{"level":"info","msg":"a b","n":1}` + "\n",
			status: http.StatusOK,
			want:   []string{`level=info msg="A B" n=1`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := connectortest.NewOutput()
			r := runPipeline(t, tc.yaml, out)
			status, answer, err := postBody(http.DefaultClient, r.url, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if status != tc.status {
				t.Fatalf("status %d (%s), want %d", status, answer, tc.status)
			}
			// 200 comes once every record was written or dropped.
			if got := out.Lines(); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("output:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			r.stop(t)
		})
	}
}

// Where a text codec cannot mean anything on a records connector, the
// pipeline is refused when it is built, with the position of the field.
func TestTextCodecsRefused(t *testing.T) {
	out := connectortest.NewOutput()
	reg := engine.DefaultRegistry.Clone()
	reg.RegisterOutput(out.Type("mem"))
	for _, tc := range []struct{ yaml, want string }{
		{"input: {type: http_server, address: 127.0.0.1:0, codec: csv}\noutput: {type: mem}\n",
			"pipeline.yaml:1:57: the http_server input delivers records one by one"},
		{"input: {type: http_server, address: 127.0.0.1:0, codec: ndjson}\noutput: {type: mem, codec: csv, csv: {header: true}}\n",
			"pipeline.yaml:2:38: the mem output writes each record on its own"},
	} {
		file := filepath.Join(t.TempDir(), "pipeline.yaml")
		spec, err := engine.Parse([]byte(tc.yaml), file, engine.WithRegistry(reg))
		if err == nil {
			_, err = engine.Build(spec, engine.WithRegistry(reg))
		}
		var ce *engine.ConfigError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want a config error containing %q", tc.yaml, err, tc.want)
		}
	}
}

// The http output (which groups records, connector.Batcher) writes each
// record as one logfmt line of its request body.
func TestLogfmtToHTTPOutput(t *testing.T) {
	bodies := make(chan string, 4)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		bodies <- string(b)
	}))
	defer sink.Close()
	r := runPipeline(t, `input: {type: http_server, address: ADDR, codec: ndjson}
output: {type: http, url: `+sink.URL+`, codec: logfmt}`, connectortest.NewOutput())
	status, answer, err := postBody(http.DefaultClient, r.url, `{"a":"x y","n":1}`+"\n"+`{"a":"z"}`+"\n")
	if err != nil || status != http.StatusOK {
		t.Fatalf("status %d (%s), %v", status, answer, err)
	}
	if got := <-bodies; got != "a=\"x y\" n=1\na=z\n" {
		t.Errorf("body %q", got)
	}
	r.stop(t)
}
