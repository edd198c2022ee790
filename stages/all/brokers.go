package all

// The broker connectors (inputs and outputs).
import (
	_ "github.com/pipe-dev/pipe/connectors/kafka"          // input/output type: kafka
	_ "github.com/pipe-dev/pipe/connectors/nats"           // input/output type: nats (core, at most once)
	_ "github.com/pipe-dev/pipe/connectors/nats_jetstream" // input/output type: nats_jetstream
)
