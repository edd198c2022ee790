// Package all compiles in the inputs and outputs (connectors); each adds
// itself in a file of its own here (a blank import), and cmd/pipe imports
// this package.
package all

import (
	_ "github.com/pipe-dev/pipe/connectors/http"        // output: {type: http}
	_ "github.com/pipe-dev/pipe/connectors/http_server" // input: {type: http_server}
)
