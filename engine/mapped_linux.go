package engine

import (
	"bytes"
	"errors"
	"fmt"
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
//
// A file truncated under the mapping raises SIGBUS where its lost pages
// are touched: the goroutine runs with debug.SetPanicOnFault, so the fault
// is a panic that the window recovers from. Before anything of a window is
// written (the fault came while counting, or fstat shows the file shrank)
// the window is left to readLines, which reads what the file holds now, as
// read(2) would have; a fault while writing (a copy into a buffer, or
// EFAULT from write(2)) fails the run with errFileShrank.

// mapWindow is how much of a file is mapped at a time: a multiple of the
// huge page size, so that the kernel can map a window's page-cache folios
// with a few PMD entries (2 faults per 2 MiB instead of 32 or 512).
var mapWindow int64 = 4 << 20

// mapPiece is how many bytes of a window are counted before they are
// written, so that a write to a pipe or a file copies them from the
// core's cache.
var mapPiece = 256 << 10

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
	max := in.opt.MaxBytes
	if max <= 0 {
		max = 1 << 20 // as codec.NewSplitter
	}
	lineOff = off
	skipped := off // where the reader is
	carry := in.b.arena[:0]
	for pos := off; pos < size; {
		if in.settings.Load() != in.cur {
			break // a reload: readLines takes the new settings
		}
		start := pos &^ (mapWindow - 1)
		n := min(mapWindow, size-start)
		m, merr := syscall.Mmap(int(fd), start, int(n), syscall.PROT_READ, syscall.MAP_SHARED)
		if merr != nil {
			break // read(2) instead
		}
		w := window{m: m, start: start, skip: int(pos - start)}
		done, werr := in.mapWindow(&w, fd, max, &carry, &lineOff)
		syscall.Munmap(m)
		if werr != nil {
			return lineOff, &StageError{Stage: "input", Op: "read", Err: fmt.Errorf("%s: %w", displayName(in.name), werr)}
		}
		if !done || in.stopped {
			break
		}
		pos = start + n
		if lineOff > skipped {
			if err := mr.Skip(lineOff - skipped); err != nil {
				return lineOff, &StageError{Stage: "input", Op: "read", Err: fmt.Errorf("%s: %w", displayName(in.name), err)}
			}
			skipped = lineOff
		}
		if in.ctx.Err() != nil { // stop reading: what was read has gone on
			in.stopped = true
			break
		}
	}
	in.b.arena = carry[:0] // it may have grown
	if err := mr.Skip(lineOff - skipped); err != nil {
		return lineOff, &StageError{Stage: "input", Op: "read", Err: fmt.Errorf("%s: %w", displayName(in.name), err)}
	}
	return lineOff, nil
}

// window is a mapped window of a file: m holds the file's bytes from
// start on; those before skip were done before.
type window struct {
	m     []byte
	start int64
	skip  int
}

// mapWindow counts and writes the lines of w that end in it: first the
// line carried from the window before (carry: its bytes so far, at most
// max), then the complete lines of the window; the unfinished line at its
// end is copied to carry. lineOff follows what was written. done false:
// stop mapping (what is left is for readLines: a line over max, a file
// that shrank, the run stopped); err: the run fails (the file shrank while
// a window was being written).
func (in *inputRun) mapWindow(w *window, fd uintptr, max int, carry *[]byte, lineOff *int64) (done bool, err error) {
	writing := false
	defer func() {
		if r := recover(); r != nil {
			if !w.fault(r) {
				panic(r)
			}
			if done, err = false, nil; writing {
				err = errFileShrank
			}
		}
	}()
	data := w.m[w.skip:]
	if h := testHookMapped; h != nil {
		h("count")
	}
	c := *carry
	head := -1 // the carried line ends at data[head] (its newline)
	if len(c) > 0 {
		nl := indexNewline(data, max-len(c))
		if nl < 0 {
			if len(c)+len(data) > max {
				return false, nil // too long: readLines reports it
			}
			*carry = append(c, data...) // it goes on in the next window
			return true, nil
		}
		head = nl
		c = append(c, data[:nl+1]...)
		data = data[nl+1:]
	}
	pos := 0
	for first := true; pos < len(data); first = false {
		end := min(len(data), pos+mapPiece)
		n, next := codec.CountLinesMax(data[pos:end], max)
		if next == 0 && end < len(data) {
			// No line ends in the piece: look as far as a line may go.
			end = min(len(data), pos+max+1)
			n, next = codec.CountLinesMax(data[pos:end], max)
		}
		if next == 0 {
			break // the unfinished line, or one over max
		}
		if first {
			if st, err := fstat(fd); err != nil || st.Size < w.start+int64(len(w.m)) {
				return false, nil // it shrank: readLines reads what it holds now
			}
			if h := testHookMapped; h != nil {
				h("write")
			}
			writing = true
			if head >= 0 {
				if !in.writeMapped(c, 1) {
					return false, nil
				}
				*lineOff += int64(len(c))
				c = c[:0]
			}
		}
		if !in.writeMapped(data[pos:pos+next], int64(n)) {
			return false, nil
		}
		*lineOff += int64(next)
		pos += next
	}
	writing = false
	if head >= 0 && len(c) > 0 {
		*carry = c // the carried line was not written: no line ends after it
		return false, nil
	}
	rest := data[pos:]
	if len(rest) > max {
		*carry = c
		return false, nil // a line over the limit: readLines reports it
	}
	*carry = append(c[:0], rest...)
	return true, nil
}

// fault reports whether r, a recovered panic, is a memory fault at an
// address of w's mapping.
func (w *window) fault(r any) bool {
	f, ok := r.(interface{ Addr() uintptr })
	if !ok || len(w.m) == 0 {
		return false
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(w.m)))
	return f.Addr() >= base && f.Addr() < base+uintptr(len(w.m))
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
