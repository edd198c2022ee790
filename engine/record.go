package engine

import "github.com/pipe-dev/pipe/stage"

// Record is an alias of stage.Record, kept for one release (CHANGELOG.md).
type Record = stage.Record

// NewRecord calls stage.NewRecord, kept for one release.
func NewRecord(data []byte) *Record { return stage.NewRecord(data) }
