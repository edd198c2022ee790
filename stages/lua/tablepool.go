package lua

import (
	"reflect"
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// A body that keeps nothing of a call (keepsNothing) cannot reach the
// tables of the arrays it decoded from its record once the call is over,
// so the next call's arrays can be the same tables, emptied: W3 decodes
// one array a record (its tags), two allocations of about 130 bytes, a
// fifth of what the stage allocated. gopher-lua has no way to empty a
// table, so the pool does it on the table's fields (ltable, whose layout
// is checked against lua.LTable's when the package starts: a gopher-lua
// whose tables differ turns the pool off). A table the script gave a key
// other than 1..n (a hash part, which gopher-lua never shrinks) or a large
// array is not reused.

// ltable is lua.LTable's layout.
type ltable struct {
	Metatable lua.LValue
	array     []lua.LValue
	dict      map[lua.LValue]lua.LValue
	strdict   map[string]lua.LValue
	keys      []lua.LValue
	k2i       map[lua.LValue]int
}

// poolTables is false when lua.LTable is not laid out as ltable.
var poolTables = sameLayout(reflect.TypeFor[lua.LTable](), reflect.TypeFor[ltable]())

// sameLayout reports whether structs a and b have the same fields (names,
// types, offsets) and size.
func sameLayout(a, b reflect.Type) bool {
	if a.Size() != b.Size() || a.NumField() != b.NumField() {
		return false
	}
	for i := range a.NumField() {
		fa, fb := a.Field(i), b.Field(i)
		if fa.Name != fb.Name || fa.Type != fb.Type || fa.Offset != fb.Offset {
			return false
		}
	}
	return true
}

const (
	maxPooledTables = 64   // tables a pool keeps
	maxPooledArray  = 1024 // the largest array capacity a pooled table keeps
)

// tablePool holds the tables of the arrays the last call decoded from
// its record (tables[:n]), and reuses them, emptied, for the next call's.
type tablePool struct {
	tables []*lua.LTable // nil: dropped
	n      int           // handed out in the current call
}

// get returns an empty table for an array whose JSON is raw: one of the
// last call's, or a new one (kept for the next calls, up to
// maxPooledTables).
func (p *tablePool) get(L *lua.LState, raw string) *lua.LTable {
	if p.n < len(p.tables) && p.tables[p.n] != nil {
		t := p.tables[p.n]
		p.n++
		return t
	}
	t := L.CreateTable(arrayCap(raw), 0)
	switch {
	case p.n < len(p.tables):
		p.tables[p.n] = t
		p.n++
	case len(p.tables) < maxPooledTables:
		p.tables = append(p.tables, t)
		p.n++
	}
	return t
}

// reset empties the tables the last call was given, for the next call;
// it drops those that are not plain arrays any more, or large ones.
func (p *tablePool) reset() {
	for i, t := range p.tables[:p.n] {
		m := (*ltable)(unsafe.Pointer(t))
		if m.dict != nil || m.strdict != nil || m.keys != nil || m.k2i != nil || cap(m.array) > maxPooledArray {
			p.tables[i] = nil
			continue
		}
		clear(m.array)
		m.array = m.array[:0]
		t.Metatable = lua.LNil
	}
	p.n = 0
}
