// Package iox holds small io helpers shared by the connectors.
package iox

import (
	"io"
	"sync/atomic"
)

// CountingReader counts the bytes read through it into N (for Progress).
type CountingReader struct {
	R io.Reader
	N *atomic.Int64
}

func (c CountingReader) Read(b []byte) (int, error) {
	n, err := c.R.Read(b)
	c.N.Add(int64(n))
	return n, err
}
