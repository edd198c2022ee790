# pipe: build, test, demo and benchmarks. `make test` builds every fixture the
# tests need (plugins, wasm guests, rpc binaries) before running them.
GO      ?= go
BIN     := bin
PIPE    := $(BIN)/pipe
GOFILES  = $(shell git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go' -not -path './vendor/*')

# Each stage kind may add fixtures (FIXTURES += ...) and rules in
# stages/<kind>/fixtures.mk.
FIXTURES :=
-include stages/*/fixtures.mk internal/*/fixtures.mk

.PHONY: all build install demo test test-short fixtures fmt-check vet fuzz bench clean

all: build

build:
	$(GO) build -o $(PIPE) ./cmd/pipe

install:
	$(GO) install ./cmd/pipe

fixtures: $(FIXTURES)

demo: build
	$(PIPE) run pipelines/error-digest.yaml --stats

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet: fixtures
	$(GO) vet ./...

# Short fuzz runs of the config loader and the codecs.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime 10s ./engine/internal/codec
	$(GO) test -run '^$$' -fuzz '^FuzzSplitter$$' -fuzztime 10s ./engine/internal/codec
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime 10s ./engine

test: fmt-check vet fixtures build
	$(PIPE) test pipelines/*.yaml
	$(GO) test -race -timeout 20m ./...
	$(MAKE) fuzz

# fixtures: the rpc workloads' plugins (and later kinds' modules), else
# run.sh reports those kinds as skipped.
bench: build fixtures
	bench/run.sh

clean:
	rm -rf $(BIN)
