package lua

import (
	"strconv"
	"strings"
	"unsafe"

	"github.com/pipe-dev/pipe/stages/lua/internal/pm"
	lua "github.com/yuin/gopher-lua"
)

// string.find, match, gmatch and gsub are gopher-lua's (stringlib.go, MIT
// licence), on a copy of its pattern matcher that checks the state's
// context every few thousand steps: a pattern that backtracks for minutes
// ends with the call's timeout (and when pipe stops), like any other Lua
// code. gsub builds its result in one pass, and its replacement string
// follows Lua 5.1 (%0-%9 captures, %% a percent sign).
func installPatterns(str *lua.LTable, L *lua.LState) {
	str.RawSetString("find", L.NewFunction(strFind))
	str.RawSetString("match", L.NewFunction(strMatch))
	str.RawSetString("gsub", L.NewFunction(strGsub))
	str.RawSetString("gmatch", L.NewClosure(strGmatch, L.NewFunction(strGmatchIter)))
}

// find runs the matcher under L's context.
func find(L *lua.LState, pattern, str string, offset, limit int) []*pm.MatchData {
	stop := func() error {
		if ctx := L.Context(); ctx != nil {
			return ctx.Err()
		}
		return nil
	}
	// The matcher only reads src: no copy of the string.
	mds, err := pm.Find(pattern, unsafe.Slice(unsafe.StringData(str), len(str)), offset, limit, stop)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	return mds
}

// strIndex is gopher-lua's luaIndex2StringIndex.
func strIndex(str string, i int, start bool) int {
	if start && i != 0 {
		i--
	}
	l := len(str)
	if i < 0 {
		i = l + i + 1
	}
	i = max(i, 0)
	if !start && i > l {
		i = l
	}
	return i
}

func pushCaptures(L *lua.LState, str string, md *pm.MatchData, from int) int {
	n := 0
	for i := from; i < md.CaptureLength(); i += 2 {
		if md.IsPosCapture(i) {
			L.Push(lua.LNumber(md.Capture(i)))
		} else {
			L.Push(lua.LString(str[md.Capture(i):md.Capture(i+1)]))
		}
		n++
	}
	return n
}

func strFind(L *lua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	if len(pattern) == 0 {
		L.Push(lua.LNumber(1))
		L.Push(lua.LNumber(0))
		return 2
	}
	init := strIndex(str, L.OptInt(3, 1), true)
	if init > len(str) {
		L.Push(lua.LNil)
		return 1
	}
	if L.GetTop() == 4 && lua.LVAsBool(L.Get(4)) { // plain
		pos := strings.Index(str[init:], pattern)
		if pos < 0 {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(lua.LNumber(init+pos) + 1)
		L.Push(lua.LNumber(init + pos + len(pattern)))
		return 2
	}
	mds := find(L, pattern, str, init, 1)
	if len(mds) == 0 {
		L.Push(lua.LNil)
		return 1
	}
	md := mds[0]
	L.Push(lua.LNumber(md.Capture(0) + 1))
	L.Push(lua.LNumber(md.Capture(1)))
	return 2 + pushCaptures(L, str, md, 2)
}

func strMatch(L *lua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	offset := L.OptInt(3, 1)
	if offset < 0 {
		offset = len(str) + offset + 1
	}
	offset = max(offset-1, 0)
	if offset > len(str) {
		L.Push(lua.LNil)
		return 1
	}
	mds := find(L, pattern, str, offset, 1)
	if len(mds) == 0 {
		L.Push(lua.LNil)
		return 1
	}
	md := mds[0]
	if md.CaptureLength() == 2 {
		L.Push(lua.LString(str[md.Capture(0):md.Capture(1)]))
		return 1
	}
	return pushCaptures(L, str, md, 2)
}

type gmatchState struct {
	str     string
	pos     int
	matches []*pm.MatchData
}

func strGmatchIter(L *lua.LState) int {
	st := L.CheckUserData(1).Value.(*gmatchState)
	if st.pos == len(st.matches) {
		return 0
	}
	md := st.matches[st.pos]
	st.pos++
	if md.CaptureLength() == 2 {
		L.Push(lua.LString(st.str[md.Capture(0):md.Capture(1)]))
		return 1
	}
	return pushCaptures(L, st.str, md, 2)
}

func strGmatch(L *lua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	mds := find(L, pattern, str, 0, -1)
	L.Push(L.Get(lua.UpvalueIndex(1)))
	ud := L.NewUserData()
	ud.Value = &gmatchState{str: str, matches: mds}
	L.Push(ud)
	return 2
}

// capture is capture idx (0 the whole match, 1-9) of md as a string.
func capture(L *lua.LState, str string, md *pm.MatchData, idx int) string {
	i := 2 * idx
	if idx == 0 || (idx == 1 && md.CaptureLength() == 2) {
		i = 0
	} else if i >= md.CaptureLength() {
		L.RaiseError("invalid capture index %%%d", idx)
	}
	if md.IsPosCapture(i) {
		return strconv.Itoa(md.Capture(i))
	}
	return str[md.Capture(i):md.Capture(i+1)]
}

func strGsub(L *lua.LState) int {
	str := L.CheckString(1)
	pattern := L.CheckString(2)
	L.CheckTypes(3, lua.LTString, lua.LTNumber, lua.LTTable, lua.LTFunction)
	repl := L.CheckAny(3)
	limit := L.OptInt(4, -1)
	mds := find(L, pattern, str, 0, limit)
	if len(mds) == 0 {
		L.SetTop(1)
		L.Push(lua.LNumber(0))
		return 2
	}
	var b strings.Builder
	last := 0
	for _, md := range mds {
		start, end := md.Capture(0), md.Capture(1)
		whole := str[start:end]
		var out string
		keep := false // keep the match as it is
		switch r := repl.(type) {
		case lua.LString, lua.LNumber:
			rs := r.String()
			var rb strings.Builder
			for i := 0; i < len(rs); i++ {
				c := rs[i]
				if c != '%' || i+1 == len(rs) {
					rb.WriteByte(c)
					continue
				}
				i++
				if d := rs[i]; d >= '0' && d <= '9' {
					rb.WriteString(capture(L, str, md, int(d-'0')))
				} else {
					rb.WriteByte(d)
				}
			}
			out = rb.String()
		case *lua.LTable, *lua.LFunction:
			key := lua.LValue(lua.LString(whole))
			if md.CaptureLength() > 2 {
				if md.IsPosCapture(2) {
					key = lua.LNumber(md.Capture(2))
				} else {
					key = lua.LString(str[md.Capture(2):md.Capture(3)])
				}
			}
			var v lua.LValue
			if t, ok := r.(*lua.LTable); ok {
				v = L.GetTable(t, key)
			} else {
				L.Push(r)
				n := 1
				if md.CaptureLength() > 2 {
					n = pushCaptures(L, str, md, 2)
				} else {
					L.Push(key)
				}
				L.Call(n, 1)
				v = L.Get(-1)
				L.Pop(1)
			}
			switch x := v.(type) {
			case lua.LString, lua.LNumber:
				out = x.String()
			default:
				if lua.LVIsFalse(v) {
					keep = true
				} else {
					L.RaiseError("invalid replacement value (a %s)", v.Type())
				}
			}
		}
		b.WriteString(str[last:start])
		if keep {
			b.WriteString(whole)
		} else {
			b.WriteString(out)
		}
		last = end
	}
	b.WriteString(str[last:])
	L.Push(lua.LString(b.String()))
	L.Push(lua.LNumber(len(mds)))
	return 2
}
