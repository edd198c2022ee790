package wasm

// declaredMemoryMax returns the maximum (in pages) that module bin's own
// memory declares, ok false when it declares none (or bin has no memory
// section, or is malformed: the compiler reports that). It reads only the
// section headers and the memory section.
func declaredMemoryMax(bin []byte) (max uint64, ok bool) {
	if len(bin) < 8 {
		return 0, false
	}
	p := bin[8:]
	for len(p) > 0 {
		id := p[0]
		size, n := uleb(p[1:])
		if n == 0 || uint64(len(p)-1-n) < size {
			return 0, false
		}
		payload := p[1+n : 1+n+int(size)]
		p = p[1+n+int(size):]
		if id != 5 { // the memory section
			continue
		}
		count, n := uleb(payload)
		payload = payload[n:]
		for i := uint64(0); i < count && n > 0 && len(payload) > 0; i++ {
			flags := payload[0]
			payload = payload[1:]
			var min, mx uint64
			min, n = uleb(payload)
			payload = payload[n:]
			_ = min
			if flags&1 != 0 {
				mx, n = uleb(payload)
				payload = payload[n:]
				if !ok || mx > max {
					max, ok = mx, true
				}
			}
		}
		return max, ok
	}
	return 0, false
}

// uleb decodes an unsigned LEB128 number: the value and the bytes it took
// (0 when b is truncated or the number too long).
func uleb(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i]&0x80 == 0 {
			return v, i + 1
		}
	}
	return 0, 0
}
