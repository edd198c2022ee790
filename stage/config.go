package stage

// Config is a stage's configuration as a plugin or a kind sees it: the
// stage's config: mapping (or the fields specific to a kind), with the
// position of every value when it came from a pipeline file.
//
// The engine hands a Go plugin (.so) its stage's config: as an
// engine.Config, read from the pipeline file with positions; the rpc Go SDK
// hands a plugin the config the host sent as JSON (no file positions: its
// errors name the key path instead, and the host reports them at the
// stage's position). Both follow this contract, so one constructor
// func(Config) (Transformer, error) serves either.
type Config interface {
	// Decode decodes the configuration into v, a non-nil pointer to a
	// struct, map, slice or scalar. It is strict: struct fields are matched
	// by their `yaml` tag (the lower-cased field name without one; "-"
	// skips a field; ",remain" on a Config field collects the keys no other
	// field takes), a key with no field is an error naming the known fields,
	// and a value of the wrong type is an error. time.Duration fields take
	// Go durations ("250ms", "5s"; 0 for none), fields of type Config take
	// the nested value as it is. An absent or null configuration leaves v
	// unchanged, except that an implementation may apply the spec tags of
	// v's struct (engine.Config does: default:, required:, enum:; see
	// package component). Errors about the configuration are *ConfigError values
	// positioned at the offending value; a v that is not a non-nil pointer
	// is a plain error (a programmer error).
	Decode(v any) error

	// Value returns the configuration as plain Go values: map[string]any,
	// []any, string, bool, int, float64 or nil (when empty). It is what
	// scripts receive in init(config).
	Value() (any, error)

	// JSON returns the configuration encoded as JSON ("null" when empty).
	JSON() ([]byte, error)

	// IsZero reports whether the configuration holds nothing (absent, null
	// or an empty mapping).
	IsZero() bool

	// Keys returns the keys of a mapping in their order in the file (nil
	// when the configuration is not a mapping).
	Keys() []string

	// Errorf returns a *ConfigError whose message is fmt.Sprintf(format,
	// args...), positioned at the value of key, or at the configuration
	// itself when key is "" or absent. An error among args becomes its Err
	// (for errors.Is and errors.As). Use it to report a value that decodes
	// but is not valid (out of range, a bad pattern).
	Errorf(key, format string, args ...any) error

	// Position returns where the configuration starts: its file and 1-based
	// line and column, or zero values when unknown (built in code, received
	// over rpc).
	Position() (file string, line, col int)
}
