package jsonkey

import "bytes"

// Checker is Any with buffers kept from one call to the next, so that
// checking record after record allocates nothing once they have grown (Any
// allocates them anew for every record). The zero value is ready to use; a
// Checker must not be used concurrently.
type Checker struct{ s scanner }

// keepBytes bounds the buffers a Checker keeps after a call, so that one
// huge or deeply nested record does not pin its buffers for good.
const keepBytes = 64 << 10

// Any is the package's Any.
func (c *Checker) Any(data []byte) error {
	if bytes.Count(data, quote) < 4 { // two keys take four quotes
		return nil
	}
	s := &c.s
	s.kinds, s.objs, s.keys, s.buf = s.kinds[:0], s.objs[:0], s.keys[:0], s.buf[:0]
	err := s.scan(data)
	if cap(s.kinds) > keepBytes || cap(s.objs) > keepBytes/32 || cap(s.keys) > keepBytes/16 || cap(s.buf) > keepBytes {
		c.s = scanner{}
	}
	return err
}
