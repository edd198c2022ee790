package native

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pipe-dev/pipe/component"
	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterNative(engine.Native{Name: "parse_json", New: newParseJSON, Config: parseJSONConfig{},
		Summary: "parse JSON text (a line, or a JSON string field) into the record",
		Doc: "Without `target:` the text must hold a JSON object: a line becomes that object as it is written, a field's " +
			"object is merged into the record (its keys replace the record's keys of the same name). With `target:` any JSON " +
			"value is put under that key (`target:` equal to `field:` replaces the string with what it holds). Text that is " +
			"not valid JSON fails the record (`on_error`).",
		Examples: []component.Example{
			{Title: "a JSON payload inside a field, in place", YAML: "- {name: payload, type: native, use: parse_json, config: {field: payload, target: payload}}"},
			{Title: "lines that must be JSON objects", YAML: "- {name: json-only, type: native, use: parse_json}"},
		}})
}

type parseJSONConfig struct {
	parseIO `yaml:",inline"`
}

type jsonParser struct{}

var errInvalidJSON = errors.New("text is not valid JSON")

func newParseJSON(cfg engine.Config) (engine.Transformer, error) {
	var c parseJSONConfig
	if err := cfg.Decode(&c); err != nil {
		return nil, err
	}
	if err := c.parseIO.check(cfg); err != nil {
		return nil, err
	}
	return newParseStage(c.parseIO, jsonParser{}), nil
}

func (jsonParser) parseLine(dst, text []byte) ([]byte, error) {
	if !json.Valid(text) {
		var v any
		if err := json.Unmarshal(text, &v); err != nil { // the reason, for the error
			return dst, fmt.Errorf("%w: %v", errInvalidJSON, err)
		}
		return dst, errInvalidJSON
	}
	// Leading and trailing white space is not part of the value.
	i, j := 0, len(text)
	for i < j && isSpace(text[i]) {
		i++
	}
	for j > i && isSpace(text[j-1]) {
		j--
	}
	return append(dst, text[i:j]...), nil
}
