# Broker fixtures: nats-server, built from the Go module pinned in the
# tools module internal/tools/brokers (its own go.mod, so pipe's go.mod
# does not carry the server). The tests of connectors/nats* start it on a
# free 127.0.0.1 port (internal/natstest). The nats CLI (nats bench) is
# built only for the broker benchmark: make nats-cli.

BROKERS_TOOLS := internal/tools/brokers

FIXTURES += $(BIN)/nats-server

$(BIN)/nats-server: $(BROKERS_TOOLS)/go.mod $(BROKERS_TOOLS)/go.sum
	@mkdir -p $(BIN)
	cd $(BROKERS_TOOLS) && $(GO) build -o $(abspath $(BIN))/nats-server github.com/nats-io/nats-server/v2

.PHONY: nats-cli
nats-cli: $(BIN)/nats

$(BIN)/nats: $(BROKERS_TOOLS)/go.mod $(BROKERS_TOOLS)/go.sum
	@mkdir -p $(BIN)
	cd $(BROKERS_TOOLS) && $(GO) build -o $(abspath $(BIN))/nats github.com/nats-io/natscli/nats
