// Command w3 is the Go plugin of benchmark workload W3 (shared/bench/README.md);
// make fixtures builds it into stages/native/testdata/so/w3.so:
//
//	go build -buildmode=plugin -o stages/native/testdata/so/w3.so ./stages/native/testdata/plugins/w3
package main

import (
	"github.com/pipe-dev/pipe/stage"
	"github.com/pipe-dev/pipe/stages/native/testdata/plugins/wl"
)

var PipeAPIVersion = stage.APIVersion

func New(cfg stage.Config) (stage.Transformer, error) { return wl.NewW3(cfg) }
