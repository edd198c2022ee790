# wasm stage fixtures: the Go guests (conformance cases, README example,
# W1-W3 benchmark workloads) and the hand-written WAT modules, built into
# stages/wasm/testdata/bin (ignored by git). wat2wasm comes from Debian's
# wabt package, installed if missing.

WASM_DIR    := stages/wasm
WASM_BIN    := $(WASM_DIR)/testdata/bin
WASM_SDK    := $(wildcard $(WASM_DIR)/guest/*.go)
WASM_GUESTS := $(notdir $(wildcard $(WASM_DIR)/testdata/guests/*)) $(notdir $(wildcard $(WASM_DIR)/testdata/bench/w*))
WASM_WAT    := $(basename $(notdir $(wildcard $(WASM_DIR)/testdata/wat/*.wat)))

FIXTURES += $(WASM_GUESTS:%=$(WASM_BIN)/%.wasm) $(WASM_WAT:%=$(WASM_BIN)/wat/%.wasm)

$(WASM_BIN)/%.wasm: $(WASM_DIR)/testdata/guests/%/main.go $(WASM_SDK)
	@mkdir -p $(@D)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $@ ./$(WASM_DIR)/testdata/guests/$*

$(WASM_BIN)/%.wasm: $(WASM_DIR)/testdata/bench/%/main.go $(WASM_SDK)
	@mkdir -p $(@D)
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -o $@ ./$(WASM_DIR)/testdata/bench/$*

$(WASM_BIN)/wat/%.wasm: $(WASM_DIR)/testdata/wat/%.wat
	@command -v wat2wasm >/dev/null || { echo "installing wat2wasm (Debian wabt)"; apt-get update -qq && apt-get install -y wabt; }
	@mkdir -p $(@D)
	wat2wasm $< -o $@
