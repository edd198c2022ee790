// Package pin checks that the bytes a stage kind is about to run are the
// bytes that were verified when its plugin was resolved.
//
// A plugin resolved from a plugin directory carries the SHA-256 its entry
// file had then (engine.StageSpec.PluginSHA256), after its signature was
// checked. A kind that runs the entry in-process (lua, js, wasm) reads the
// file once, passes those bytes to Check, and compiles and runs exactly
// those bytes: a file replaced between resolution and load is refused, and
// one replaced later is never read again.
package pin

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"

	"github.com/pipe-dev/pipe/engine"
)

// EventRefused is the stage event of a refused plugin.
const EventRefused = "plugin_refused"

// Check returns nil when the stage names no pinned plugin or when data,
// the content of path read once, has the pinned SHA-256. Otherwise it
// reports the event plugin_refused (attributes path, reason,
// sha256_expected, sha256_actual) through events (which may be nil) and
// returns a *engine.ConfigError at the stage's use: field naming the file
// and both hashes.
func Check(spec *engine.StageSpec, events *engine.StageEvents, path string, data []byte) error {
	want := strings.ToLower(spec.PluginSHA256())
	if want == "" {
		return nil
	}
	sum := sha256.Sum256(data)
	got := hex.EncodeToString(sum[:])
	if got == want {
		return nil
	}
	reason := "the entry file changed since the plugin was resolved"
	events.Emit(EventRefused, "path", path, "reason", reason, "sha256_expected", want, "sha256_actual", got, "plugin", spec.Plugin())
	return spec.Errorf("use", "plugin %s: %s changed since it was resolved (sha256 %s, expected %s): refusing to run it", spec.Plugin(), path, got, want)
}
