# rpc stage fixtures: the example plugins the tests and benchmarks run, the
# npm packages of the Node.js example plugin, and the generated gRPC code.

RPC_DIR      := stages/rpc
RPC_BIN      := $(RPC_DIR)/testdata/bin
RPC_TOOLS    := $(abspath $(RPC_DIR)/.tools)
RPC_PLUGINS  := w1 w2 w3 cases
RPC_SRC      := $(wildcard $(RPC_DIR)/*.go $(RPC_DIR)/proto/*.go $(RPC_DIR)/rpcplugin/*.go stage/*.go)

FIXTURES += $(addprefix $(RPC_BIN)/,$(RPC_PLUGINS)) $(RPC_DIR)/testdata/node/node_modules/.installed

$(RPC_BIN)/w%: $(RPC_DIR)/testdata/bench/w%/main.go $(RPC_SRC)
	$(GO) build -o $@ ./$(RPC_DIR)/testdata/bench/w$*

$(RPC_BIN)/cases: $(RPC_DIR)/testdata/plugins/cases/main.go $(RPC_SRC)
	$(GO) build -o $@ ./$(RPC_DIR)/testdata/plugins/cases

$(RPC_DIR)/testdata/node/node_modules/.installed: $(RPC_DIR)/testdata/node/package.json $(RPC_DIR)/testdata/node/package-lock.json
	cd $(RPC_DIR)/testdata/node && npm ci --no-audit --no-fund
	touch $@

# Regenerate the Go code of the Transformer service: protoc from Debian's
# protobuf-compiler, the Go plugins at the versions go.mod pins.
.PHONY: rpc-proto rpc-proto-tools
RPC_PROTOC_GEN_GO_VERSION      := v1.36.12
RPC_PROTOC_GEN_GO_GRPC_VERSION := v1.6.2

rpc-proto-tools:
	@command -v protoc >/dev/null || { echo "installing protoc (Debian protobuf-compiler)"; apt-get install -y protobuf-compiler || sudo apt-get install -y protobuf-compiler; }
	GOBIN=$(RPC_TOOLS) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(RPC_PROTOC_GEN_GO_VERSION)
	GOBIN=$(RPC_TOOLS) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(RPC_PROTOC_GEN_GO_GRPC_VERSION)

rpc-proto: rpc-proto-tools
	PATH=$(RPC_TOOLS):$$PATH protoc -I $(RPC_DIR)/proto \
		--go_out=$(RPC_DIR)/proto --go_opt=paths=source_relative \
		--go-grpc_out=$(RPC_DIR)/proto --go-grpc_opt=paths=source_relative \
		$(RPC_DIR)/proto/transformer.proto
