package stage

import (
	"errors"
	"fmt"
	"strings"
)

// ErrStageTimeout is the cause of a record failure when a stage exceeds its
// per-record timeout. Test with errors.Is.
var ErrStageTimeout = errors.New("timed out")

// ErrRecordTooLarge is the cause of a record failure when a record exceeds
// max_record_bytes.
var ErrRecordTooLarge = errors.New("record too large")

// ErrInvalidRecord is the cause of a record failure when the input codec
// rejects a record (malformed JSON under ndjson, invalid UTF-8 or NUL bytes
// when the input asks for that check).
var ErrInvalidRecord = errors.New("invalid record")

// ConfigError is an error in a pipeline file or stage configuration, with the
// position it was found at. Error() reads "FILE:LINE:COL: message".
type ConfigError struct {
	File string // pipeline file ("" for pipelines built in code)
	Line int    // 1-based; 0 if unknown
	Col  int    // 1-based; 0 if unknown
	Msg  string
	Err  error // underlying cause, if any
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, max(e.Col, 1))
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	b.WriteString(e.Msg)
	return b.String()
}

func (e *ConfigError) Unwrap() error { return e.Err }

// StageError is a failure inside a stage: of one record, or of the stage's
// open, flush or close.
type StageError struct {
	Stage  string // stage name ("input", "output" for codec errors)
	Kind   string // stage type: native, lua, js, wasm, rpc
	Op     string // open, transform, flush, close, read, write
	Record int64  // input record number (1-based); 0 if none
	Err    error
}

func (e *StageError) Error() string {
	var b strings.Builder
	b.WriteString("stage ")
	b.WriteString(quote(e.Stage))
	if e.Kind != "" {
		b.WriteString(" (")
		b.WriteString(e.Kind)
		b.WriteByte(')')
	}
	if e.Record > 0 {
		fmt.Fprintf(&b, ": record %d", e.Record)
	} else if e.Op != "" && e.Op != "transform" {
		b.WriteString(": ")
		b.WriteString(e.Op)
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *StageError) Unwrap() error { return e.Err }

func quote(s string) string {
	if s == "" {
		return `""`
	}
	if strings.ContainsAny(s, " \t\"'") {
		return fmt.Sprintf("%q", s)
	}
	return s
}
