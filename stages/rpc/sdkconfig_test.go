package rpc_test

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/pipe-dev/pipe/engine"
	"github.com/pipe-dev/pipe/stages/rpc/rpcplugin"
)

// TestSDKConfigMatchesEngine: a constructor decodes a config: the same way
// whether the host hands it an engine.Config (compiled in, Go plugin) or
// the SDK hands it the JSON the host sent (rpc plugin).
func TestSDKConfigMatchesEngine(t *testing.T) {
	type target struct {
		Name  string            `yaml:"name"`
		N     int               `yaml:"n"`
		F     float64           `yaml:"f"`
		On    bool              `yaml:"on"`
		Every time.Duration     `yaml:"every"`
		Tags  []string          `yaml:"tags"`
		M     map[string]int    `yaml:"m"`
		P     *struct{ X int }  `yaml:"p"`
		Any   any               `yaml:"any"`
		Meta  map[string]string `yaml:"meta"`
	}
	for _, js := range []string{
		`null`, `{}`,
		`{"name":"a","n":3,"f":1.5,"on":true,"every":"2s","tags":["x"],"m":{"a":1},"p":{"x":2},"any":[1,"b",{"c":null}]}`,
		`{"every":0}`, `{"name":5}`, `{"name":true}`,
		`{"nme":"a"}`, `{"n":"3"}`, `{"n":1.5}`, `{"on":1}`, `{"every":"x"}`, `{"every":"-1s"}`,
		`{"tags":"x"}`, `{"m":{"a":"b"}}`, `{"p":{"y":1}}`, `[1]`, `"s"`,
	} {
		var v any
		if err := json.Unmarshal([]byte(js), &v); err != nil {
			t.Fatal(err)
		}
		sdk, err := rpcplugin.ParseConfig([]byte(js))
		if err != nil {
			t.Fatal(err)
		}
		var a, b target
		errA := engine.ConfigOf(v).Decode(&a)
		errB := sdk.Decode(&b)
		if (errA == nil) != (errB == nil) {
			t.Errorf("%s: engine.Config.Decode = %v, rpcplugin.Config.Decode = %v", js, errA, errB)
			continue
		}
		if errA == nil && !reflect.DeepEqual(a, b) {
			t.Errorf("%s: engine decoded %+v, sdk %+v", js, a, b)
		}
		va, _ := engine.ConfigOf(v).Value()
		vb, _ := sdk.Value()
		if !reflect.DeepEqual(va, vb) {
			t.Errorf("%s: engine Value %#v, sdk Value %#v", js, va, vb)
		}
		if engine.ConfigOf(v).IsZero() != sdk.IsZero() {
			t.Errorf("%s: IsZero differs", js)
		}
	}
}
