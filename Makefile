# pipe: build, test, demo, release artefacts and benchmarks. `make test`
# checks the tools it needs (installing missing ones with apt-get when it
# can) and builds every fixture the tests need (plugins, wasm guests, rpc
# binaries) before running them.
GO      ?= go
BIN     := bin
PIPE    := $(BIN)/pipe
GOFILES  = $(shell git ls-files --cached --others --exclude-standard '*.go' 2>/dev/null || find . -name '*.go' -not -path './vendor/*')

# The version: git describe (the tag, or TAG-N-gHASH after it) once the
# repository has tags, else v + the VERSION file; commit and build date
# beside it. pipe version prints all three.
VERSION ?= $(shell git describe --tags 2>/dev/null || echo v$$(cat VERSION))
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)$(shell git diff --quiet HEAD 2>/dev/null || echo -dirty)
DATE    ?= $(shell date -u -d @$${SOURCE_DATE_EPOCH:-$$(date +%s)} +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
CLI     := github.com/pipe-dev/pipe/internal/cli
LDFLAGS := -X $(CLI).Version=$(VERSION) -X $(CLI).Commit=$(COMMIT) -X $(CLI).Date=$(DATE)

# staticcheck at a pinned version, installed into bin/ on first use.
STATICCHECK_VERSION := v0.8.2
STATICCHECK         := $(BIN)/staticcheck-$(STATICCHECK_VERSION)

# Release artefacts: one archive per platform with SHA256SUMS. The cross
# builds are cgo-free (CGO_ENABLED=0): those binaries cannot load Go .so
# plugins (type: native, path: x.so needs cgo and the same toolchain); every
# other stage kind works. `make dist PLATFORMS=linux/amd64` builds one.
DIST      ?= dist
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
DIST_CGO  ?= 0
DIST_FLAGS ?= -trimpath

# Each stage kind may add fixtures (FIXTURES += ...) and rules in
# stages/<kind>/fixtures.mk.
FIXTURES :=
-include stages/*/fixtures.mk internal/*/fixtures.mk

.PHONY: all build install demo test test-short tools fixtures fmt-check vet staticcheck fuzz bench dist clean reliability

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(PIPE) ./cmd/pipe

# Installs pipe into $(go env GOBIN), else $(go env GOPATH)/bin.
install:
	$(GO) install -ldflags "$(LDFLAGS)" ./cmd/pipe
	@echo "installed $$($(GO) env GOBIN | grep . || echo $$($(GO) env GOPATH)/bin)/pipe $(VERSION); shell completion: pipe completion --help"

# The tools make test needs besides Go and make: gcc (cgo: -race and Go
# .so plugins), git, node and npm (the Node.js rpc example plugin), wat2wasm
# (Debian's wabt: the WAT test modules). A missing one is installed with
# apt-get when this is Debian or Ubuntu and we are root or have sudo;
# otherwise make stops with one line that says what to install.
TOOLS_NEEDED := gcc:gcc git:git node:nodejs npm:npm wat2wasm:wabt
tools:
	@missing=""; for t in $(TOOLS_NEEDED); do command -v $${t%%:*} >/dev/null 2>&1 || missing="$$missing $${t#*:}"; done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" = 0 ]; then apt=apt-get; elif sudo -n true 2>/dev/null; then apt="sudo apt-get"; fi; \
	if [ -n "$$apt" ] && command -v apt-get >/dev/null; then \
		echo "installing$$missing (apt-get)"; $$apt update -qq && $$apt install -y -qq$$missing; \
	else \
		echo "make test needs$$missing: install them (Debian/Ubuntu: sudo apt-get install$$missing) and run make test again"; exit 1; \
	fi

fixtures: tools $(FIXTURES)

demo: build
	$(PIPE) run pipelines/error-digest.yaml --stats

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet: fixtures
	$(GO) vet ./...

$(STATICCHECK):
	@mkdir -p $(BIN)
	GOBIN=$(abspath $(BIN)) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(BIN)/staticcheck $@

staticcheck: $(STATICCHECK) fixtures
	$(STATICCHECK) ./...

# Short fuzz runs of the config loader and the codecs (make fuzz
# FUZZTIME=1m for a longer look).
FUZZTIME ?= 5s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzReader$$' -fuzztime $(FUZZTIME) ./engine/internal/codec
	$(GO) test -run '^$$' -fuzz '^FuzzSplitter$$' -fuzztime $(FUZZTIME) ./engine/internal/codec
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./engine

# The long reliability runs, outside make test: a soak of SOAK_BYTES
# (default 5 GiB) through lua, js and native stages with the RSS sampled,
# KILL_ROUNDS kill -9 loops with rpc plugins, RELOADS --watch reloads, and
# each fuzz target for RELIABILITY_FUZZTIME. Each run logs a RESULT line
# (the README's reliability table). Smaller: make reliability
# SOAK_BYTES=1073741824 KILL_ROUNDS=10 RELOADS=200 RELIABILITY_FUZZTIME=1m
SOAK_BYTES           ?= 5368709120
KILL_ROUNDS          ?= 50
RELOADS              ?= 1000
RELIABILITY_FUZZTIME ?= 5m
reliability: fixtures
	@mkdir -p $(BIN)
	PIPE_RELIABILITY=1 PIPE_SOAK_BYTES=$(SOAK_BYTES) PIPE_KILL_ROUNDS=$(KILL_ROUNDS) PIPE_RELOADS=$(RELOADS) \
		$(GO) test -v -count=1 -timeout 6h -run '^(TestReliability.*|TestReloadsReleaseMemory|TestSignalEndsStuckStageWithinDrainBound)$$' \
		./cmd/pipe > $(BIN)/reliability.log 2>&1; s=$$?; grep -E 'RESULT|^(---|ok|FAIL)' $(BIN)/reliability.log; exit $$s
	$(GO) test -count=1 -run '^TestPluginsDieWithPipe$$' ./stages/rpc
	$(MAKE) fuzz FUZZTIME=$(RELIABILITY_FUZZTIME)

test: fmt-check vet staticcheck fixtures build
	$(PIPE) test pipelines/*.yaml pipelines/scale-out/*.yaml
	$(GO) test -race -timeout 45m ./...
	$(MAKE) fuzz

# dist/pipe-VERSION-OS-ARCH.tar.gz (the binary, man pages, completion
# scripts for bash, zsh and fish, LICENSE, README.md, CHANGELOG.md) and
# dist/SHA256SUMS (check with: cd dist && sha256sum -c SHA256SUMS).
dist:
	rm -rf $(DIST) && mkdir -p $(DIST)/share
	$(GO) run ./internal/tools/gendist -out $(DIST)/share -version $(VERSION)
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; name=pipe-$(VERSION)-$$os-$$arch; \
		echo "building $$name"; mkdir -p $(DIST)/$$name; \
		CGO_ENABLED=$(DIST_CGO) GOOS=$$os GOARCH=$$arch $(GO) build $(DIST_FLAGS) -ldflags "$(LDFLAGS)" -o $(DIST)/$$name/pipe ./cmd/pipe; \
		cp -R $(DIST)/share/man $(DIST)/share/completions LICENSE README.md CHANGELOG.md $(DIST)/$$name/; \
		tar -C $(DIST) -czf $(DIST)/$$name.tar.gz $$name; rm -rf $(DIST)/$$name; \
	done
	rm -rf $(DIST)/share
	cd $(DIST) && sha256sum *.tar.gz > SHA256SUMS
	@cat $(DIST)/SHA256SUMS

# fixtures: the rpc workloads' plugins (and later kinds' modules), else
# run.sh reports those kinds as skipped.
bench: build fixtures
	bench/run.sh

clean:
	rm -rf $(BIN) $(DIST)
