package all

import (
	_ "github.com/pipe-dev/pipe/connectors/nats_jetstream" // input/output type: nats_jetstream
)
