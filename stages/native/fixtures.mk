# native stage fixtures: the Go plugins (.so) of the benchmark workloads
# and of the conformance cases, for bin/pipe (no -race) and for go test
# -race (testdata/so/race). A Go plugin loads only into a pipe built with
# the same flags, so each is built twice. The package tests build their
# own plugins in TestMain; these are for bin/pipe, bench/ and people.
# Also fetches a second Go release (once, into the module cache) for the
# test that loads a plugin built by another Go version.
# The plugins are always relinked (about a second each from the build
# cache): a plugin stale by one package of engine/ would not load.

NATIVE_DIR      := stages/native
NATIVE_SO       := $(NATIVE_DIR)/testdata/so
NATIVE_PLUGINS  := w1 w2 w3 cases
NATIVE_OTHER_GO ?= go1.26.7

FIXTURES += $(foreach p,$(NATIVE_PLUGINS),$(NATIVE_SO)/$(p).so $(NATIVE_SO)/race/$(p).so) native-other-go

$(NATIVE_SO)/%.so: native-force
	$(GO) build -buildmode=plugin -o $@ ./$(NATIVE_DIR)/testdata/plugins/$*

$(NATIVE_SO)/race/%.so: native-force
	$(GO) build -buildmode=plugin -race -o $@ ./$(NATIVE_DIR)/testdata/plugins/$*

# Best effort: without the network the test says it skipped and why.
.PHONY: native-other-go native-force
native-force:

native-other-go:
	@GOTOOLCHAIN=$(NATIVE_OTHER_GO) $(GO) version >/dev/null 2>&1 || echo "note: could not fetch $(NATIVE_OTHER_GO); TestPluginOtherGoVersion will be skipped"
