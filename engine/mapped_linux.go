package engine

import (
	"bytes"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"syscall"
	"unsafe"

	"github.com/pipe-dev/pipe/connector"
	"github.com/pipe-dev/pipe/engine/internal/codec"
)

// Mapped files: lines that are only counted (countsLines: W0, lines in,
// lines out, nothing between) are taken from a regular file mapped into
// memory a window at a time instead of read(2) into a buffer, so their
// bytes are copied once (by the write, none at all to /dev/null) instead
// of twice. The kernel's copy of the read was 30% of W0's samples.
//
// A window is mapped, its lines counted (codec.CountLinesMax, which also
// checks max_record_bytes), its complete lines written, and it is
// unmapped: at most one window is resident at a time (mapped pages count
// in RSS). The line that crosses into the next window is copied and
// written on its own. Whatever the mapping does not handle is left to
// readLines at the start of a line, so errors and their order are those
// of the general path: a line over the limit, the end of the file (its
// last line, bytes appended since it was measured), a failed mmap, a
// reload of the input's settings.
// With a second core, a goroutine of its own (counter) counts the second
// half of each window while the input's goroutine counts and writes the
// first: counting reads every byte from memory, the larger part of what
// is left of W0's work once the copy is gone.
//
// A file truncated under the mapping raises SIGBUS where its lost pages
// are touched: the goroutine runs with debug.SetPanicOnFault, so the fault
// is a panic that the window recovers from. A fault while counting (or
// fstat before the window's first write showing the file shrank) leaves
// the rest, from the first line not written, to readLines, which reads
// what the file holds now, as read(2) would have; a fault while writing (a
// copy into a buffer, or EFAULT from write(2)) fails the run with
// errFileShrank.

// mapWindow is how much of a file is mapped at a time: a multiple of the
// huge page size, so that the kernel can map a window's page-cache folios
// with a few PMD entries (2 faults per 2 MiB instead of 32 or 512).
var mapWindow int64 = 4 << 20

// mapPiece is how many bytes of a window are counted before they are
// written, so that a write to a pipe or a file copies them from the
// core's cache.
var mapPiece = 256 << 10

// minSplit is the least a window's two halves must hold to be counted on
// two goroutines (a hand-off costs a few microseconds).
var minSplit = 512 << 10

// minMapBytes: a stream with less left to read is read (mapping costs two
// system calls and a TLB shoot-down per window).
var minMapBytes int64 = 1 << 20

// Tests: noMap turns mapping off; testHookMapped is called with what the
// mapping of a window is about to do ("count", "write").
var (
	noMap          bool
	testHookMapped func(step string)
)

// errFileShrank fails a run whose mapped input shrank while its bytes were
// being written.
var errFileShrank = errors.New("the file shrank (or a page of it could not be read) while it was mapped")

// readMapped is readLines for a stream whose lines are counted
// (countsLines) and whose reader is a regular file: it maps the file and
// counts and writes its lines from memory, then reads the rest with
// readLines (from the start of the last, unfinished line on).
func (in *inputRun) readMapped(mr connector.MappableReader) error {
	f, off := mr.MapFile()
	if noMap || f == nil || len(in.b.recs) > 0 || len(in.b.arena) > 0 {
		return in.readLines(mr)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size()-off < minMapBytes {
		return in.readLines(mr)
	}
	lineOff, err := in.mapLines(f.Fd(), off, st.Size(), mr)
	if in.b.arena = in.b.arena[:0]; err != nil || in.stopped {
		return err
	}
	// The rest, from the start of the unfinished line on (its bytes,
	// carried, are read again).
	in.base += lineOff - off
	return in.readLines(mr)
}

// mapLines counts and writes the complete lines of the file fd from off
// to size a window at a time and returns lineOff, where the line that it
// left unwritten (if any) begins: everything before it was written. The
// reader is moved on to lineOff (Skip), window by window (--progress).
func (in *inputRun) mapLines(fd uintptr, off, size int64, mr connector.MappableReader) (lineOff int64, err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	m := mapper{in: in, fd: fd, max: in.opt.MaxBytes, carry: in.b.arena[:0], lineOff: off}
	if m.max <= 0 {
		m.max = 1 << 20 // as codec.NewSplitter
	}
	if runtime.GOMAXPROCS(0) > 1 && size-off >= mapWindow {
		m.counter = newCounter(m.max)
		defer close(m.counter.jobs)
	}
	readErr := func(err error) error {
		return &StageError{Stage: "input", Op: "read", Err: fmt.Errorf("%s: %w", displayName(in.name), err)}
	}
	skipped := off // where the reader is
	for pos := off; pos < size; {
		if in.settings.Load() != in.cur {
			break // a reload: readLines takes the new settings
		}
		start := pos &^ (mapWindow - 1)
		n := min(mapWindow, size-start)
		b, merr := syscall.Mmap(int(fd), start, int(n), syscall.PROT_READ, syscall.MAP_SHARED)
		if merr != nil {
			break // read(2) instead
		}
		done, werr := m.window(b, start, int(pos-start))
		syscall.Munmap(b)
		if werr != nil {
			return m.lineOff, readErr(werr)
		}
		if !done || in.stopped {
			break
		}
		pos = start + n
		if m.lineOff > skipped {
			if err := mr.Skip(m.lineOff - skipped); err != nil {
				return m.lineOff, readErr(err)
			}
			skipped = m.lineOff
		}
		if in.ctx.Err() != nil { // stop reading: what was read has gone on
			in.stopped = true
			break
		}
	}
	in.b.arena = m.carry[:0] // it may have grown
	if err := mr.Skip(m.lineOff - skipped); err != nil {
		return m.lineOff, readErr(err)
	}
	return m.lineOff, nil
}

// mapper counts and writes the lines of a mapped file window by window.
type mapper struct {
	in      *inputRun
	fd      uintptr
	max     int      // max_record_bytes
	counter *counter // nil: one goroutine counts
	// carry holds the bytes of the line that began in the window before
	// (at most max), lineOff the file offset where it begins: everything
	// before was written.
	carry   []byte
	lineOff int64
}

// window counts and writes the lines that end in the mapped window b (the
// file's bytes from start on; those before skip were done before): the
// carried line, then the complete lines of the window; the unfinished line
// at its end is copied to carry. done false: stop mapping (what is left is
// for readLines: a line over max, a file that shrank, the run stopped);
// err: the run fails (the file shrank while a window was being written).
func (m *mapper) window(b []byte, start int64, skip int) (done bool, err error) {
	writing := false
	defer func() {
		if r := recover(); r != nil {
			if !isFault(r, b) {
				panic(r)
			}
			if done, err = false, nil; writing {
				err = errFileShrank
			}
		}
	}()
	data := b[skip:]
	if h := testHookMapped; h != nil {
		h("count")
	}
	c := m.carry
	head := false // the carried line ends in data: c is that line
	if len(c) > 0 {
		nl := indexNewline(data, m.max-len(c))
		if nl < 0 {
			if len(c)+len(data) > m.max {
				return false, nil // too long: readLines reports it
			}
			m.carry = append(c, data...) // it goes on in the next window
			return true, nil
		}
		head = true
		c = append(c, data[:nl+1]...)
		m.carry = c
		data = data[nl+1:]
	}
	// On two cores, the counter counts the second half (from a line's
	// start) while this goroutine counts and writes the first.
	split, pending := len(data), false
	if cn := m.counter; cn != nil && len(data) >= 2*minSplit {
		if k := bytes.IndexByte(data[len(data)/2:], '\n'); k >= 0 {
			split = len(data)/2 + k + 1
			cn.jobs <- countJob{data[split:], b}
			pending = true
			defer func() {
				if pending {
					<-cn.results // before the window is unmapped
				}
			}()
		}
	}
	began := false
	write := func(p []byte, n int) bool {
		if !began { // before the window's first write
			began = true
			if st, err := fstat(m.fd); err != nil || st.Size < start+int64(len(b)) {
				return false // it shrank: readLines reads what it holds now
			}
			if h := testHookMapped; h != nil {
				h("write")
			}
			if head {
				if !m.in.writeMapped(c, 1) {
					return false
				}
				m.lineOff += int64(len(c))
				c, head = c[:0], false
			}
		}
		if n == 0 {
			return true
		}
		writing = true
		if !m.in.writeMapped(p, int64(n)) {
			return false
		}
		writing = false
		m.lineOff += int64(len(p))
		return true
	}
	part := data[:split]
	pos := 0
	for pos < len(part) {
		end := min(len(part), pos+mapPiece)
		n, next := codec.CountLinesMax(part[pos:end], m.max)
		if next == 0 && end < len(part) {
			// No line ends in the piece: look as far as a line may go.
			end = min(len(part), pos+m.max+1)
			n, next = codec.CountLinesMax(part[pos:end], m.max)
		}
		if next == 0 {
			break // the unfinished line, or one over max
		}
		if !write(part[pos:pos+next], n) {
			return false, nil
		}
		pos += next
	}
	if pending {
		r := <-m.counter.results
		pending = false
		// The first part ends with a newline: only a line over max
		// stops before.
		if pos < split || r.fault {
			return false, nil // a fault: nothing of the second part was written
		}
		if !write(data[split:split+r.next], r.n) {
			return false, nil
		}
		pos = split + r.next
	}
	if head && !write(nil, 0) { // the carried line, if no other was written
		return false, nil
	}
	rest := data[pos:]
	if len(rest) > m.max {
		m.carry = c
		return false, nil // a line over the limit: readLines reports it
	}
	m.carry = append(c[:0], rest...)
	return true, nil
}

// counter counts the lines of the second half of each window (countJob)
// on a goroutine of its own, with the memory faults of a file truncated
// under the mapping recovered (SetPanicOnFault is per goroutine).
type counter struct {
	jobs    chan countJob
	results chan countResult
	max     int
}

// countJob asks to count data, part of the mapping m.
type countJob struct{ data, m []byte }

// countResult is codec.CountLinesMax's n and next, or fault.
type countResult struct {
	n, next int
	fault   bool
}

// newCounter starts a counter; closing its jobs ends it.
func newCounter(max int) *counter {
	c := &counter{jobs: make(chan countJob), results: make(chan countResult, 1), max: max}
	go func() {
		debug.SetPanicOnFault(true)
		for j := range c.jobs {
			c.results <- c.count(j)
		}
	}()
	return c
}

func (c *counter) count(j countJob) (r countResult) {
	defer func() {
		if x := recover(); x != nil {
			if !isFault(x, j.m) {
				panic(x)
			}
			r = countResult{fault: true}
		}
	}()
	r.n, r.next = codec.CountLinesMax(j.data, c.max)
	return r
}

// isFault reports whether r, a recovered panic, is a memory fault at an
// address of the mapping m.
func isFault(r any, m []byte) bool {
	f, ok := r.(interface{ Addr() uintptr })
	if !ok || len(m) == 0 {
		return false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m)))
	return f.Addr() >= base && f.Addr() < base+uintptr(len(m))
}

// indexNewline is bytes.IndexByte(data, '\n') that gives up after limit+1
// bytes (returning -1): the carried line may not be longer.
func indexNewline(data []byte, limit int) int {
	if limit < 0 {
		return -1
	}
	return bytes.IndexByte(data[:min(len(data), limit+1)], '\n')
}

// writeMapped writes p, n lines from a mapping, straight to the output;
// false: the run stopped, or the write failed (a fault in a copy from the
// mapping panics, an EFAULT from write(2) panics here too: both are the
// window's to recover; any other error fails the run as the output's).
func (in *inputRun) writeMapped(p []byte, n int64) bool {
	in.num += n
	in.c.in.Add(n)
	in.c.passed.Add(n)
	in.c.out.Add(n)
	ok, err := in.direct.lines(p, n, true)
	if err != nil {
		if errors.Is(err, syscall.EFAULT) {
			panic(efault{unsafe.SliceData(p)})
		}
		in.direct.rs.abort(err)
		in.stopped = true
		return false
	}
	if !ok {
		in.stopped = true
	}
	return ok
}

// efault is a write(2) that failed with EFAULT on a mapping: raised as the
// fault a copy would have raised.
type efault struct{ p *byte }

func (e efault) Addr() uintptr { return uintptr(unsafe.Pointer(e.p)) }

func fstat(fd uintptr) (syscall.Stat_t, error) {
	var st syscall.Stat_t
	err := syscall.Fstat(int(fd), &st)
	return st, err
}
