// Package all compiles in the inputs and outputs that are not built into
// the engine: importing it registers them with engine.DefaultRegistry, and
// cmd/pipe imports it. Each connector adds itself in a file of its own here.
package all

import (
	httpout "github.com/pipe-dev/pipe/connectors/http"
	httpserver "github.com/pipe-dev/pipe/connectors/http_server"
	"github.com/pipe-dev/pipe/engine"
)

func init() {
	engine.RegisterInput(httpserver.Type) // input: {type: http_server}
	engine.RegisterOutput(httpout.Type)   // output: {type: http}
}
