package engine

import "github.com/pipe-dev/pipe/stage"

// The stage contract lives in package stage, which depends on the standard
// library alone so that plugins link it without the engine. These aliases
// keep code written against engine compiling for one release (see
// CHANGELOG.md).

// Transformer is an alias of stage.Transformer, kept for one release (CHANGELOG.md).
type Transformer = stage.Transformer

// TransformerFunc is an alias of stage.TransformerFunc, kept for one release (CHANGELOG.md).
type TransformerFunc = stage.TransformerFunc

// Opener is an alias of stage.Opener, kept for one release (CHANGELOG.md).
type Opener = stage.Opener

// Flusher is an alias of stage.Flusher, kept for one release (CHANGELOG.md).
type Flusher = stage.Flusher

// Closer is an alias of stage.Closer, kept for one release (CHANGELOG.md).
type Closer = stage.Closer

// BatchTransformer is an alias of stage.BatchTransformer, kept for one release (CHANGELOG.md).
type BatchTransformer = stage.BatchTransformer

// BatchResult is an alias of stage.BatchResult, kept for one release (CHANGELOG.md).
type BatchResult = stage.BatchResult

// ErrFatal is stage.ErrFatal (the same value), kept for one release.
var ErrFatal = stage.ErrFatal

// Fatal calls stage.Fatal, kept for one release.
func Fatal(err error) error { return stage.Fatal(err) }
