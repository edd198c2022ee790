package engine

import "maps"

// inherit gives a record that a stage emitted for input record in what it
// takes from it (the Transformer contract): a copy of in's metadata when it
// has none of its own (nil; an empty, non-nil map means none), and in's
// record number. The input record itself, emitted, keeps what it has.
func inherit(out, in *Record) {
	if out == in {
		return
	}
	if out.Meta == nil && len(in.Meta) > 0 {
		out.Meta = maps.Clone(in.Meta)
	}
	if out.Number() == 0 {
		out.SetNumber(in.Number())
	}
}
