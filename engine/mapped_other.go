//go:build !linux

package engine

import "github.com/pipe-dev/pipe/connector"

// Tests: see mapped_linux.go; files are only mapped on Linux.
var (
	noMap          bool
	testHookMapped func(step string)
	mapWindow      int64 = 4 << 20
	minMapBytes    int64 = 1 << 20
	mapPiece             = 256 << 10
	minSplit             = 512 << 10
)

// readMapped reads the stream: mapping files is done on Linux only
// (mapped_linux.go).
func (in *inputRun) readMapped(mr connector.MappableReader) error { return in.readLines(mr) }
