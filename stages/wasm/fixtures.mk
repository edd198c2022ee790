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

# The C guests (stages/wasm/guest/c/*.c: the SDK's example, the conformance
# cases guest, the W1-W3 workloads), built into testdata/bin/c with Debian's
# clang, lld (wasm-ld), wasi-libc and libclang-rt-14-dev-wasm32 (the
# compiler-rt builtins for wasm32), installed if missing. The recipe is the
# one the wasm README documents.
WASM_C_DIR    := $(WASM_DIR)/guest/c
WASM_C        := $(basename $(notdir $(wildcard $(WASM_C_DIR)/*.c)))
WASM_CC       ?= clang
WASM_CFLAGS   ?= --target=wasm32-wasi -mexec-model=reactor -O2 -msimd128 -mbulk-memory -Wall -Wextra -Werror -Wl,--strip-all
WASM_C_DEBS   := clang lld wasi-libc libclang-rt-14-dev-wasm32

FIXTURES += $(WASM_C:%=$(WASM_BIN)/c/%.wasm)

$(WASM_BIN)/c/%.wasm: $(WASM_C_DIR)/%.c $(wildcard $(WASM_C_DIR)/*.h) $(WASM_DIR)/fixtures.mk | wasm-c-toolchain
	@mkdir -p $(@D)
	$(WASM_CC) $(WASM_CFLAGS) -o $@ $<

.PHONY: wasm-c-toolchain
wasm-c-toolchain:
	@missing=$$(for p in $(WASM_C_DEBS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing the C guest toolchain (Debian" $$missing")"; \
	  apt-get update -qq && apt-get install -y $$missing; \
	fi
