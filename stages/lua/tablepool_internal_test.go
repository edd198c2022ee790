package lua

import (
	"reflect"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

// The gopher-lua this module pins has tables laid out as ltable: without
// it, the pool is off (and this test says so on an upgrade).
func TestTableLayout(t *testing.T) {
	if !poolTables {
		t.Fatal("lua.LTable is not laid out as ltable: tablePool is off")
	}
	type other struct {
		Metatable lua.LValue
		_         []lua.LValue
	}
	if sameLayout(reflect.TypeFor[lua.LTable](), reflect.TypeFor[other]()) {
		t.Fatal("sameLayout accepted a struct with fewer fields")
	}
}

func TestTablePool(t *testing.T) {
	L := lua.NewState()
	defer L.Close()
	var p tablePool
	fill := func(tb *lua.LTable, vals ...string) {
		for _, v := range vals {
			tb.Append(lua.LString(v))
		}
	}
	a, b := p.get(L, `["x","y"]`), p.get(L, `[]`)
	fill(a, "x", "y")
	b.RawSetString("k", lua.LTrue) // a hash part: not reused
	p.reset()
	if got := p.get(L, `["z"]`); got != a || got.Len() != 0 || got.MaxN() != 0 || got.Metatable != lua.LNil {
		t.Fatalf("reused table: same %v, len %d", got == a, got.Len())
	}
	c := p.get(L, `[]`)
	if c == b {
		t.Fatal("a table with a hash part was reused")
	}
	if k, _ := c.Next(lua.LNil); k != lua.LNil {
		t.Fatalf("new table not empty: key %v", k)
	}
	// A large array is dropped; tables past maxPooledTables are not kept.
	p.reset()
	big := p.get(L, `[]`)
	for range maxPooledArray + 1 {
		big.Append(lua.LTrue)
	}
	p.reset()
	if p.get(L, `[]`) == big {
		t.Fatal("a large array was reused")
	}
	for range 2 * maxPooledTables {
		p.get(L, `[]`)
	}
	if len(p.tables) != maxPooledTables {
		t.Fatalf("pool keeps %d tables, want %d", len(p.tables), maxPooledTables)
	}
	p.reset()
	if p.n != 0 {
		t.Fatal("reset did not hand the tables back")
	}
}
