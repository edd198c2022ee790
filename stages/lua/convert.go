package lua

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/pipe-dev/pipe/stages/internal/script"
	"github.com/tidwall/gjson"
	lua "github.com/yuin/gopher-lua"
)

// jsonNull is pipe.null: JSON null, distinct from nil (which Lua tables
// cannot hold), so that null round-trips.
var jsonNull = &lua.LUserData{Value: "null"}

const arrayKey = "pipe.array" // registry key of the metatable marking arrays

const maxDepth = script.MaxDepth

func jsonValid(b []byte) bool { return gjson.ValidBytes(b) }

// decodeJSON converts one JSON value to Lua: objects and arrays become
// tables (arrays keep a marker metatable, so an empty one encodes as []
// again), numbers Lua numbers, null pipe.null.
// order remembers the key order of decoded objects, so that records keep
// their field order through a script (Lua tables have none).
type order map[*lua.LTable][]string

func decodeJSON(L *lua.LState, data []byte, ord order) (lua.LValue, error) {
	if !gjson.ValidBytes(data) {
		return nil, errors.New("malformed JSON")
	}
	return convert(L, gjson.ParseBytes(data), ord, nil)
}

// convert converts a JSON value (valid) to Lua: an error for a value
// nested deeper than script.MaxDepth (checked first, in one pass), or when
// the state's context ends during the conversion (it is checked every
// 1024 values). owner, if not nil, is the VM of L: its metatable of arrays,
// and its boxes for strings (vm.box).
func convert(L *lua.LState, r gjson.Result, ord order, owner *vm) (lua.LValue, error) {
	if err := script.CheckDepth(unsafe.Slice(unsafe.StringData(r.Raw), len(r.Raw))); err != nil {
		return nil, err
	}
	c := converter{L: L, ord: order(ord), v: owner}
	if owner != nil {
		if owner.arrayMT == nil {
			owner.arrayMT, _ = L.GetField(L.G.Registry, arrayKey).(*lua.LTable)
		}
		c.arrayMT = owner.arrayMT
		if owner.l.noRetain && poolTables {
			c.arrays = &owner.arrays
		}
	} else {
		c.arrayMT, _ = L.GetField(L.G.Registry, arrayKey).(*lua.LTable)
	}
	v := c.fromResult(r)
	if c.err != nil {
		return nil, c.err
	}
	return v, nil
}

type converter struct {
	L       *lua.LState
	arrayMT *lua.LTable
	ord     order
	v       *vm        // nil if not known
	arrays  *tablePool // the tables for arrays, if they come from a pool
	n       int        // values converted
	err     error      // the context's, once it ended
}

func (c *converter) fromResult(r gjson.Result) lua.LValue {
	if c.n++; c.n%1024 == 0 && c.err == nil {
		if ctx := c.L.Context(); ctx != nil {
			c.err = ctx.Err()
		}
	}
	if c.err != nil {
		return lua.LNil
	}
	L, arrayMT, ord := c.L, c.arrayMT, c.ord
	switch r.Type {
	case gjson.Null:
		return jsonNull
	case gjson.False:
		return lua.LFalse
	case gjson.True:
		return lua.LTrue
	case gjson.Number:
		return lua.LNumber(r.Num)
	case gjson.String:
		if c.v != nil {
			return c.v.box(r.Str)
		}
		return lua.LString(r.Str)
	}
	if r.IsArray() {
		var t *lua.LTable
		if c.arrays != nil {
			t = c.arrays.get(L, r.Raw)
		} else {
			t = L.CreateTable(arrayCap(r.Raw), 0)
		}
		r.ForEach(func(_, v gjson.Result) bool {
			t.Append(c.fromResult(v))
			return c.err == nil
		})
		if arrayMT != nil {
			t.Metatable = arrayMT
		}
		return t
	}
	t := L.CreateTable(0, 16)
	var keys []string
	r.ForEach(func(k, v gjson.Result) bool {
		t.RawSetString(k.Str, c.fromResult(v))
		if ord != nil {
			keys = append(keys, k.Str)
		}
		return c.err == nil
	})
	if ord != nil {
		ord[t] = keys
	}
	return t
}

// arrayCap is the capacity for the table of a JSON array: its number of
// elements when the array is short (counted in one pass over its bytes),
// else 8 to start with.
func arrayCap(raw string) int {
	if len(raw) > 256 {
		return 8
	}
	n, depth, empty := 1, 0, true
	for i := 0; i < len(raw); i++ {
		switch c := raw[i]; c {
		case '"':
			for i++; i < len(raw) && raw[i] != '"'; i++ {
				if raw[i] == '\\' {
					i++
				}
			}
			empty = false
		case '[', '{':
			if depth++; depth > 1 {
				empty = false
			}
		case ']', '}':
			depth--
		case ',':
			if depth == 1 {
				n++
			}
		case ' ', '\t', '\n', '\r':
		default:
			empty = false
		}
	}
	if empty {
		return 0
	}
	return n
}

// toLua converts plain Go values (a stage's config) to Lua.
func toLua(L *lua.LState, v any) (lua.LValue, error) {
	switch x := v.(type) {
	case nil:
		return lua.LNil, nil
	case bool:
		return lua.LBool(x), nil
	case int:
		return lua.LNumber(x), nil
	case int64:
		return lua.LNumber(x), nil
	case float64:
		return lua.LNumber(x), nil
	case string:
		return lua.LString(x), nil
	case []any:
		t := L.CreateTable(len(x), 0)
		for _, e := range x {
			lv, err := toLua(L, e)
			if err != nil {
				return nil, err
			}
			t.Append(lv)
		}
		return t, nil
	case map[string]any:
		t := L.CreateTable(0, len(x))
		for k, e := range x {
			lv, err := toLua(L, e)
			if err != nil {
				return nil, err
			}
			t.RawSetString(k, lv)
		}
		return t, nil
	}
	return nil, fmt.Errorf("cannot pass a %T to Lua", v)
}

// encodeJSON converts a Lua value to JSON: tables with keys 1..n (or
// marked as arrays) become arrays, other tables objects (an empty
// unmarked table is {}); integral numbers print without a fraction.
func encodeJSON(v lua.LValue, ord order) ([]byte, error) {
	return appendValue(nil, v, ord)
}

// appendValue appends the JSON of v to b (see encodeJSON).
func appendValue(b []byte, v lua.LValue, ord order) ([]byte, error) {
	var seen map[*lua.LTable]bool
	if _, ok := v.(*lua.LTable); ok { // only a table can contain itself
		seen = map[*lua.LTable]bool{}
	}
	return appendJSON(b, v, seen, 0, ord)
}

func appendJSON(b []byte, v lua.LValue, seen map[*lua.LTable]bool, depth int, ord order) ([]byte, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("cannot encode: nested deeper than %d levels", maxDepth)
	}
	switch x := v.(type) {
	case *lua.LNilType:
		return append(b, "null"...), nil
	case lua.LBool:
		return strconv.AppendBool(b, bool(x)), nil
	case lua.LNumber:
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("cannot encode %v in JSON", f)
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return strconv.AppendInt(b, int64(f), 10), nil
		}
		if f == math.Trunc(f) && math.Abs(f) < 1e21 {
			// Still an integer literal, as JSON.stringify writes it (a
			// consumer reading it into an integer type keeps working).
			return strconv.AppendFloat(b, f, 'f', -1, 64), nil
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64), nil
	case lua.LString:
		return appendString(b, string(x)), nil
	case *lua.LUserData:
		if x == jsonNull {
			return append(b, "null"...), nil
		}
		if lr := lazyOf(x); lr != nil { // a lazy record: its bytes, edited
			data, err := lr.encode(ord)
			if err != nil {
				return nil, err
			}
			return append(b, data...), nil
		}
	case *lua.LTable:
		if lr := lazyOf(x); lr != nil { // a lazy record: its bytes, edited
			data, err := lr.encode(ord)
			if err != nil {
				return nil, err
			}
			return append(b, data...), nil
		}
		if seen[x] {
			return nil, errors.New("cannot encode a table that contains itself")
		}
		seen[x] = true
		defer delete(seen, x)
		n := x.Len()
		marked := false
		if mt, ok := x.Metatable.(*lua.LTable); ok && mt.RawGetString("__pipe_array") == lua.LTrue {
			marked = true
		}
		count := 0
		x.ForEach(func(lua.LValue, lua.LValue) { count++ })
		if marked || (n > 0 && n == count) {
			b = append(b, '[')
			for i := 1; i <= n; i++ {
				if i > 1 {
					b = append(b, ',')
				}
				var err error
				if b, err = appendJSON(b, x.RawGetInt(i), seen, depth+1, ord); err != nil {
					return nil, err
				}
			}
			return append(b, ']'), nil
		}
		b = append(b, '{')
		first := true
		var err error
		// Known keys in their original order first, then new ones.
		var done map[string]bool
		for _, k := range ord[x] {
			val := x.RawGetString(k)
			if val == lua.LNil {
				continue
			}
			if done == nil {
				done = make(map[string]bool, len(ord[x]))
			}
			done[k] = true
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, k)
			b = append(b, ':')
			if b, err = appendJSON(b, val, seen, depth+1, ord); err != nil {
				return nil, err
			}
		}
		x.ForEach(func(k, val lua.LValue) {
			if err != nil {
				return
			}
			if ks, ok := k.(lua.LString); ok && done[string(ks)] {
				return
			}
			var key string
			switch kk := k.(type) {
			case lua.LString:
				key = string(kk)
			case lua.LNumber:
				key = kk.String()
			default:
				err = fmt.Errorf("cannot encode a table key of type %s", k.Type())
				return
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendString(b, key)
			b = append(b, ':')
			b, err = appendJSON(b, val, seen, depth+1, ord)
		})
		if err != nil {
			return nil, err
		}
		return append(b, '}'), nil
	}
	return nil, fmt.Errorf("cannot encode a %s in JSON", v.Type())
}

const hex = "0123456789abcdef"

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
			i++
		case c < 0x20:
			switch c {
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
		case c < utf8.RuneSelf:
			b = append(b, c)
			i++
		default:
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...) // invalid UTF-8
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size
		}
	}
	return append(b, '"')
}
