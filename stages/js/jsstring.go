package js

import (
	"reflect"
	"sync"
	"unsafe"

	"github.com/dop251/goja"
)

// goja keeps a string that is all ASCII as an asciiString (a Go string),
// and any other as UTF-16. Runtime.ToValue makes a string longer than 16
// bytes an importedString instead: a wrapper that scans the string byte by
// byte (unistring.Scan) the first time the script does anything with it
// but pass it through, e.g. rec.toUpperCase() on a line (W2: 9% of the
// samples, and one allocation more a record). Go code cannot make an
// asciiString: asciiValue makes one the way the compiler does, an
// interface value whose type word is asciiString's (taken from a value
// ToValue made) and whose data word points to the string, after checking
// the string is ASCII eight bytes at a time. If goja ever stops making
// asciiString values (asciiTab finds none), asciiValue is ToValue.

// iface is the layout of a non-empty interface value.
type iface struct {
	tab  unsafe.Pointer
	data unsafe.Pointer
}

var (
	asciiOnce sync.Once
	asciiTab  unsafe.Pointer // the type word of asciiString values; nil: unknown
)

// findASCII sets asciiTab from a short string rt made (ToValue makes
// strings of up to 16 ASCII bytes asciiString values).
func findASCII(rt *goja.Runtime) {
	asciiOnce.Do(func() {
		v := rt.ToValue("ascii")
		t := reflect.TypeOf(v)
		if t == nil || t.Kind() != reflect.String || t.Name() != "asciiString" || t.PkgPath() != "github.com/dop251/goja" {
			return
		}
		asciiTab = (*iface)(unsafe.Pointer(&v)).tab
	})
}

// asciiValue returns the JavaScript string s (as rt.ToValue(s)).
func asciiValue(rt *goja.Runtime, s string) goja.Value {
	if !isASCII(s) {
		return rt.ToValue(s)
	}
	return asciiString(rt, s)
}

// asciiString returns s, which is all ASCII, as goja's asciiString value.
func asciiString(rt *goja.Runtime, s string) goja.Value {
	if asciiTab == nil {
		return rt.ToValue(s)
	}
	p := new(string)
	*p = s
	var v goja.Value
	w := (*iface)(unsafe.Pointer(&v))
	w.tab, w.data = asciiTab, unsafe.Pointer(p)
	return v
}

// asciiCopy returns a copy of b as a JavaScript string, and the copy's
// bytes, which the caller may change before the string is used (to change
// their case); ok is false (nothing made) when b has a byte outside ASCII.
// The string's header and its bytes are one allocation (asciiBlock).
func asciiCopy(rt *goja.Runtime, b []byte) (v goja.Value, bytes []byte, ok bool) {
	n := len(b)
	if n == 0 || !isASCII(unsafe.String(&b[0], n)) {
		if n == 0 {
			return rt.ToValue(""), nil, true
		}
		return nil, nil, false
	}
	if asciiTab == nil {
		buf := append([]byte(nil), b...)
		return rt.ToValue(unsafe.String(&buf[0], n)), buf, true
	}
	v, body := asciiBlock(n)
	copy(body, b)
	return v, body, true
}

// asciiBlock returns an asciiString value of n bytes (n > 0, asciiTab
// known) and its bytes, for the caller to fill before the string is used:
// one allocation holding the string's header and then its bytes. The
// block holds no pointer for the collector to scan but the header's own,
// into the same block, which the value's data word keeps alive; so the
// header is written as plain words, without the write barrier a string
// store into the heap would take (the collector never reads it).
func asciiBlock(n int) (v goja.Value, body []byte) {
	const hdr = int(unsafe.Sizeof(""))
	blk := make([]byte, hdr+n)
	body = blk[hdr:]
	h := (*[2]uintptr)(unsafe.Pointer(&blk[0])) // a string header: data, len
	h[0], h[1] = uintptr(unsafe.Pointer(&body[0])), uintptr(n)
	w := (*iface)(unsafe.Pointer(&v))
	w.tab, w.data = asciiTab, unsafe.Pointer(&blk[0])
	return v, body
}

// isASCII reports whether every byte of s is below 0x80, 32 bytes a step
// then eight at a time.
func isASCII(s string) bool {
	const hi = 0x8080808080808080
	n := len(s)
	p := unsafe.Pointer(unsafe.StringData(s))
	i := 0
	for ; i+32 <= n; i += 32 {
		w := *(*uint64)(unsafe.Add(p, i)) | *(*uint64)(unsafe.Add(p, i+8)) |
			*(*uint64)(unsafe.Add(p, i+16)) | *(*uint64)(unsafe.Add(p, i+24))
		if w&hi != 0 {
			return false
		}
	}
	for ; i+8 <= n; i += 8 {
		if *(*uint64)(unsafe.Add(p, i))&hi != 0 {
			return false
		}
	}
	for ; i < n; i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// goja drops its value stack at the end of every call from Go (Runtime's
// leave sets vm.stack to nil), so that each record's call allocates it
// anew, and again each time it grows (W3: two allocations and 370 bytes a
// record, 17% of all it allocated). A vm keeps one stack of its own
// (keptStack values) and hands it back to goja before each call from Go:
// goja grows past it as before when a call needs more, and a nil stack
// and an empty one with room are the same to it (vm.stack.expand). The
// field is found by reflection (stackOffsets); if goja's layout changes,
// nothing is reused.

// keptStack is the size of the value stack a vm keeps.
const keptStack = 512

var (
	stackOnce            sync.Once
	stackVMOff, stackOff uintptr // Runtime.vm, vm.stack
	stackFound           bool
)

func findStack() {
	stackOnce.Do(func() {
		rf, ok := reflect.TypeFor[goja.Runtime]().FieldByName("vm")
		if !ok || rf.Type.Kind() != reflect.Pointer || rf.Type.Elem().Kind() != reflect.Struct {
			return
		}
		sf, ok := rf.Type.Elem().FieldByName("stack")
		if !ok || sf.Type.Kind() != reflect.Slice || sf.Type.Elem() != reflect.TypeFor[goja.Value]() {
			return
		}
		stackVMOff, stackOff, stackFound = rf.Offset, sf.Offset, true
	})
}

// valueStack returns a pointer to rt's value stack, nil if not found.
func valueStack(rt *goja.Runtime) *[]goja.Value {
	findStack()
	if !stackFound {
		return nil
	}
	vmp := *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(rt), stackVMOff))
	if vmp == nil {
		return nil
	}
	return (*[]goja.Value)(unsafe.Add(vmp, stackOff))
}
