package interrupt

import "errors"

// mergeGap is the largest run of bytes no segment writes that mergeData
// fills with zeros to join two runs of written bytes into one segment.
const mergeGap = 64

// maxMergeSpan bounds the memory range mergeData lays out (it builds an
// image of it).
const maxMergeSpan = 64 << 20

// mergeData returns the payload of a data section that writes exactly
// what the data section payload writes at instantiation, in fewer
// segments, and their number; ok is false when it cannot (or need not):
// a segment that is passive, of another memory, with an offset other than
// an i32.const of at least 0, or empty; more than maxMergeSpan bytes
// between the lowest and the highest byte written; or no fewer segments.
//
// Go's linker writes a module's data as tens of thousands of small
// segments (39,395 for the W1 guest, about 1 MB; merged, 13), each of which wazero keeps
// decoded (a struct, its bytes and its offset expression) for as long as
// the module is loaded, and lists again per instance: about 5 MB of Go
// heap, twice that at the collector's goal. The result is the image of
// all segments applied in order (later ones over earlier ones), cut into
// the runs of bytes some segment writes, with runs less than mergeGap
// apart joined (the bytes between are zeros no segment writes, which the
// fresh memory holds anyway). Instantiation fails for the same modules:
// the highest byte written is the same. The caller must make sure the
// code refers to no segment by index (memory.init, data.drop), which
// merging renumbers.
func mergeData(payload []byte) (out []byte, count uint32, ok bool) {
	r := &reader{b: payload}
	n := r.u32()
	type seg struct {
		off  uint32
		init []byte
	}
	segs := make([]seg, 0, n)
	lo, hi := uint64(1<<32), uint64(0)
	for range n {
		switch flags := r.u32(); flags {
		case 0:
		case 2:
			if r.u32() != 0 {
				return nil, 0, false
			}
		default: // passive
			return nil, 0, false
		}
		if r.byte() != 0x41 { // i32.const
			return nil, 0, false
		}
		off := r.s32()
		if r.byte() != 0x0b || off < 0 {
			return nil, 0, false
		}
		init := r.bytes(int(r.u32()))
		if r.err != nil || len(init) == 0 {
			return nil, 0, false
		}
		segs = append(segs, seg{uint32(off), init})
		lo = min(lo, uint64(off))
		hi = max(hi, uint64(off)+uint64(len(init)))
	}
	if r.err != nil || r.pos != len(r.b) || n < 2 || hi-lo > maxMergeSpan {
		return nil, 0, false
	}
	image := make([]byte, hi-lo)
	written := make([]uint64, (hi-lo+63)/64) // a bit per byte of image
	for _, s := range segs {
		at := uint64(s.off) - lo
		copy(image[at:], s.init)
		for i := at; i < at+uint64(len(s.init)); i++ {
			written[i/64] |= 1 << (i % 64)
		}
	}
	isWritten := func(i uint64) bool { return written[i/64]&(1<<(i%64)) != 0 }
	var runs [][2]uint64 // [from, to) in image
	for i := uint64(0); i < uint64(len(image)); {
		if !isWritten(i) {
			i++
			continue
		}
		j := i
		for j < uint64(len(image)) && isWritten(j) {
			j++
		}
		if k := len(runs) - 1; k >= 0 && i-runs[k][1] <= mergeGap {
			runs[k][1] = j
		} else {
			runs = append(runs, [2]uint64{i, j})
		}
		i = j
	}
	if uint32(len(runs)) >= n {
		return nil, 0, false
	}
	out = appendU32(make([]byte, 0, len(image)+16*len(runs)), uint32(len(runs)))
	for _, run := range runs {
		out = append(out, 0x00, 0x41)
		out = appendS32(out, int32(lo+run[0]))
		out = append(out, 0x0b)
		out = appendU32(out, uint32(run[1]-run[0]))
		out = append(out, image[run[0]:run[1]]...)
	}
	return out, uint32(len(runs)), true
}

// s32 reads a signed LEB128 number of at most 32 bits.
func (r *reader) s32() int32 {
	var v int64
	for i := 0; i < 5; i++ {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		v |= int64(c&0x7f) << (7 * i)
		if c&0x80 == 0 {
			if c&0x40 != 0 {
				v -= 1 << (7 * (i + 1))
			}
			if v < -1<<31 || v >= 1<<31 {
				r.fail(errors.New("s32 LEB128 overflow"))
				return 0
			}
			return int32(v)
		}
	}
	r.fail(errors.New("LEB128 number too long"))
	return 0
}
