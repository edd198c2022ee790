package tmpl_test

import (
	"path/filepath"
	"testing"

	_ "github.com/pipe-dev/pipe/connectors/kafka"
	_ "github.com/pipe-dev/pipe/connectors/nats"
	_ "github.com/pipe-dev/pipe/connectors/nats_jetstream"
	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/engine/enginetest"
)

// Under the csv and logfmt codecs a broker output is handed each record as
// its encoded line, so a {{field.PATH}} template has no JSON field to read:
// the pipeline is refused when it is built (pipe lint: exit 2), at the
// template's field. {{meta.KEY}} stays allowed, as does {{field.PATH}}
// under the other codecs.
func TestFieldTemplatesUnderTextCodecs(t *testing.T) {
	for _, tc := range []struct{ name, output, at string }{
		{"kafka topic", "{type: kafka, brokers: [127.0.0.1:1], codec: csv, topic: 'ev.{{field.type}}'}", "2:66: "},
		{"kafka key", "{type: kafka, brokers: [127.0.0.1:1], codec: logfmt, topic: ev, key: '{{field.id}}'}", "2:78: "},
		{"nats subject", "{type: nats, urls: [nats://127.0.0.1:1], codec: logfmt, subject: 'ev.{{ field.type }}'}", "2:74: "},
		{"nats_jetstream subject", "{type: nats_jetstream, urls: [nats://127.0.0.1:1], codec: csv, subject: '{{field.type}}'}", "2:81: "},
		{"nats_jetstream msg_id", "{type: nats_jetstream, urls: [nats://127.0.0.1:1], codec: csv, subject: ev, msg_id: '{{field.id}}'}", "2:93: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "p.yaml")
			_, err := build(file, "input: {codec: ndjson}\noutput: "+tc.output+"\n")
			enginetest.CheckConfigError(t, err, file+":"+tc.at, "{{field.", "reads a field of the record's JSON", "use codec ndjson, or {{meta.KEY}}")
		})
	}
	for _, output := range []string{
		"{type: kafka, brokers: [127.0.0.1:1], codec: csv, topic: 'ev.{{meta.type}}', key: '{{meta.id}}'}",
		"{type: nats, urls: [nats://127.0.0.1:1], codec: logfmt, subject: 'ev.{{meta.type}}'}",
		"{type: nats_jetstream, urls: [nats://127.0.0.1:1], codec: ndjson, subject: '{{field.type}}', msg_id: '{{field.id}}'}",
		"{type: kafka, brokers: [127.0.0.1:1], topic: 'ev.{{field.type}}'}", // lines: records may be JSON text
	} {
		if _, err := build(filepath.Join(t.TempDir(), "p.yaml"), "input: {codec: ndjson}\noutput: "+output+"\n"); err != nil {
			t.Errorf("%s: %v", output, err)
		}
	}
}

func build(file, yaml string) (*engine.Pipeline, error) {
	spec, err := engine.Parse([]byte(yaml), file)
	if err != nil {
		return nil, err
	}
	return engine.Build(spec)
}
