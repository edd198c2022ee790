package engine

import (
	"fmt"
	"strings"

	"github.com/pipe-dev/pipe/stage"
)

// ErrStageTimeout is stage.ErrStageTimeout (the same value), kept for one release.
var ErrStageTimeout = stage.ErrStageTimeout

// ErrRecordTooLarge is stage.ErrRecordTooLarge (the same value), kept for one release.
var ErrRecordTooLarge = stage.ErrRecordTooLarge

// ErrInvalidRecord is stage.ErrInvalidRecord (the same value), kept for one release.
var ErrInvalidRecord = stage.ErrInvalidRecord

// ConfigError is an alias of stage.ConfigError, kept for one release (CHANGELOG.md).
type ConfigError = stage.ConfigError

// StageError is an alias of stage.StageError, kept for one release (CHANGELOG.md).
type StageError = stage.StageError

func quote(s string) string {
	if s == "" {
		return `""`
	}
	if strings.ContainsAny(s, " \t\"'") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
