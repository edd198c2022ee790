package lua

import (
	"github.com/pipe-dev/pipe/stages/internal/script"
	lua "github.com/yuin/gopher-lua"
)

// A JSON object record reaches scripts as a lazy table: a field is decoded
// when first read (gjson on the record's bytes), writes and deletions are
// recorded, and the output is the original bytes with just those edits
// applied (sjson), so fields keep their order and formatting and a record
// the script only reads costs no encoding. pairs(rec) and
// pipe.json.encode(rec) see the whole, edited record.

const proxyMTKey = "pipe.proxy"

// lazyRec is the state of one lazy record table: the shared lazy view
// (script.Lazy), with the key order of the nested objects it decodes.
type lazyRec struct {
	script.Lazy[lua.LValue]
	ord order         // key order of decoded nested objects
	v   *vm           // the VM the record is in
	ud  lua.LUserData // the script's handle: Value is the lazyRec (one allocation for both)
}

// newLazy makes the lazy table of a record; mt is the lazy tables'
// metatable (the registry's proxyMTKey), fields the instance's index of the
// record (nil if none).
func newLazy(mt lua.LValue, data []byte, ord order, fields *script.Fields) *lazyRec {
	lr := &lazyRec{Lazy: script.Lazy[lua.LValue]{Data: data, Fields: fields}, ord: ord}
	lr.ud.Value, lr.ud.Metatable = lr, mt
	return lr
}

// reuse makes lr, the last record's lazy table (or a new one when lr is
// nil), the lazy table of another record: for a body that keeps nothing of
// a call (keepsNothing), whose last record's table no script can reach,
// and whose strings may then be the record's bytes (Lazy.Shared).
func reuseLazy(lr *lazyRec, mt lua.LValue, data []byte, ord order, fields *script.Fields) *lazyRec {
	if lr == nil {
		lr = &lazyRec{}
		lr.ud.Value, lr.ud.Metatable = lr, mt
		lr.Shared = true
	}
	lr.Reset(data, fields)
	lr.ord = ord
	return lr
}

func lazyOf(v lua.LValue) *lazyRec {
	ud, ok := v.(*lua.LUserData)
	if !ok {
		return nil
	}
	lr, _ := ud.Value.(*lazyRec)
	return lr
}

func (lr *lazyRec) get(L *lua.LState, k string) lua.LValue {
	v, ok, r := lr.Lookup(k)
	if ok {
		return v
	}
	if !r.Exists() {
		return lua.LNil
	}
	v, err := convert(L, r, lr.ord, lr.v)
	if err != nil {
		L.RaiseError("field %s: %v", k, err)
	}
	if _, isTable := v.(*lua.LTable); isTable { // the script may change it in place
		lr.Cache(k, v)
	}
	return v
}

// set is rec[k] = v; nil deletes the field.
func (lr *lazyRec) set(k string, v lua.LValue) {
	if v == lua.LNil {
		lr.Delete(k)
		return
	}
	lr.Set(k, v)
}

// encode applies the edits to the record's bytes.
func (lr *lazyRec) encode(ord order) ([]byte, error) { return lr.Encode(fieldEncoder{ord}) }

// encodeAgain is encode for emit, which a script may call again and again
// with a field changed (see script.Lazy.EncodeAgain).
func (lr *lazyRec) encodeAgain(ord order) ([]byte, error) { return lr.EncodeAgain(fieldEncoder{ord}) }

// fieldEncoder encodes the fields of a lazy record.
type fieldEncoder struct{ ord order }

func (e fieldEncoder) EncodeField(_ string, v lua.LValue) ([]byte, bool, error) {
	raw, err := encodeJSON(v, e.ord)
	return raw, false, err
}

// AppendField implements script.FieldAppender: the value's JSON goes
// straight into the record's bytes.
func (e fieldEncoder) AppendField(b []byte, _ string, v lua.LValue) ([]byte, bool, error) {
	b, err := appendValue(b, v, e.ord)
	return b, false, err
}

var _ script.FieldAppender[lua.LValue] = fieldEncoder{}

// materialize returns a plain table of the whole, edited record.
func (lr *lazyRec) materialize(L *lua.LState, ord order) (*lua.LTable, error) {
	data, err := lr.encode(ord)
	if err != nil {
		return nil, err
	}
	v, err := decodeJSON(L, data, ord)
	if err != nil {
		return nil, err
	}
	return v.(*lua.LTable), nil
}

// installLazy sets up the lazy tables' metatable and a pairs that sees
// through them.
func installLazy(L *lua.LState, ord func() order) {
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		lr := lazyOf(L.Get(1))
		k, ok := L.Get(2).(lua.LString)
		if lr == nil || !ok {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lr.get(L, string(k)))
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int {
		lr := lazyOf(L.Get(1))
		k, ok := L.Get(2).(lua.LString)
		if lr == nil || !ok {
			L.RaiseError("a record's field names are strings, got %s", L.Get(2).Type())
			return 0
		}
		lr.set(string(k), L.Get(3))
		return 0
	}))
	L.SetField(L.G.Registry, proxyMTKey, mt)
	basePairs := L.GetGlobal("pairs")
	L.SetGlobal("pairs", L.NewFunction(func(L *lua.LState) int {
		arg := L.Get(1)
		if lr := lazyOf(arg); lr != nil {
			t, err := lr.materialize(L, ord())
			if err != nil {
				L.RaiseError("pairs: %v", err)
			}
			arg = t
		}
		L.Push(basePairs)
		L.Push(arg)
		L.Call(1, 3)
		return 3
	}))
}
