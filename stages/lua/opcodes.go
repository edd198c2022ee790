package lua

import (
	"unsafe"

	lua "github.com/yuin/gopher-lua"
)

// gopher-lua compiles t.name and t.name = v to GETTABLEKS and SETTABLEKS,
// which read the constant name as a Go string: when t is not a table that
// has the field (a lazy record, whose fields its __index and __newindex
// metamethods resolve), the name is boxed again into a Lua value for the
// metamethod's call, an allocation every time. GETTABLE and SETTABLE do
// the same with the constant as the compiler boxed it once (same operands:
// RK(C) is the key of GETTABLE, RK(B) that of SETTABLE). Every prototype
// the stage compiles has its KS instructions rewritten so, but for a field
// of a table a GETGLOBAL just loaded (string.upper, math.floor: library
// tables, where GETTABLEKS finds the field without boxing, a few
// instructions faster).

// opShift is where an instruction's opcode is (its top six bits).
const opShift = 26

// unboxKeys rewrites GETTABLEKS and SETTABLEKS to GETTABLE and SETTABLE in
// p and the prototypes of the functions it defines; it returns p.
func unboxKeys(p *lua.FunctionProto) *lua.FunctionProto {
	for i, inst := range p.Code {
		switch int(inst >> opShift) {
		case lua.OP_GETTABLEKS:
			if i > 0 && int(p.Code[i-1]>>opShift) == lua.OP_GETGLOBAL && argA(p.Code[i-1]) == argB(inst) {
				continue // a global's field
			}
			p.Code[i] = inst&(1<<opShift-1) | uint32(lua.OP_GETTABLE)<<opShift
		case lua.OP_SETTABLEKS:
			p.Code[i] = inst&(1<<opShift-1) | uint32(lua.OP_SETTABLE)<<opShift
		}
	}
	for _, f := range p.FunctionPrototypes {
		unboxKeys(f)
	}
	return p
}

// argA and argB are an instruction's operands A and B (gopher-lua's
// layout: opcode 6 bits, A 8, C 9, B 9).
func argA(inst uint32) int { return int(inst>>18) & 0xff }
func argB(inst uint32) int { return int(inst & 0x1ff) }

// smallInts are the numbers intValue boxes without an allocation.
var smallInts [256]lua.LNumber

func init() {
	for i := range smallInts {
		smallInts[i] = lua.LNumber(i)
	}
}

// lnumberTab is the first word of an lua.LValue holding a lua.LNumber.
var lnumberTab = func() unsafe.Pointer {
	var v lua.LValue = lua.LNumber(0)
	return (*iface)(unsafe.Pointer(&v)).tab
}()

// intValue returns i as a Lua value. Converting a number to an interface
// allocates its word; for 0 <= i < len(smallInts) the value points into
// smallInts instead (numbers are immutable), as vm.box does for strings.
func intValue(i int) lua.LValue {
	if uint(i) >= uint(len(smallInts)) {
		return lua.LNumber(i)
	}
	var lv lua.LValue
	w := (*iface)(unsafe.Pointer(&lv))
	w.tab, w.data = lnumberTab, unsafe.Pointer(&smallInts[i])
	return lv
}

// installIpairs replaces the base library's ipairs with one whose
// iterator boxes its index with intValue (the library's allocates it at
// every step); the same results and errors otherwise.
func installIpairs(L *lua.LState) {
	aux := L.NewFunction(ipairsAux)
	L.SetGlobal("ipairs", L.NewFunction(func(L *lua.LState) int {
		tb := L.CheckTable(1)
		L.Push(aux)
		L.Push(tb)
		L.Push(intValue(0))
		return 3
	}))
}

// ipairsAux is ipairs' iterator: the next index and value of the table,
// nothing at the first nil.
func ipairsAux(L *lua.LState) int {
	tb := L.CheckTable(1)
	i := L.CheckInt(2) + 1
	v := tb.RawGetInt(i)
	if v == lua.LNil {
		return 0
	}
	L.Push(intValue(i))
	L.Push(v)
	return 2
}
