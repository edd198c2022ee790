package lua

import lua "github.com/yuin/gopher-lua"

// strUpper and strLower are string.upper and string.lower as in Lua 5.1:
// byte by byte, changing ASCII letters only, so that every other byte
// (UTF-8 sequences, invalid or not) stays as it was. (gopher-lua's own
// go through Go's strings.ToUpper, which turns invalid UTF-8 into U+FFFD.)
func strUpper(L *lua.LState) int { return strCase(L, 'a', 'z') }
func strLower(L *lua.LState) int { return strCase(L, 'A', 'Z') }

// strCase flips the case of the bytes from..to of its string argument.
func strCase(L *lua.LState, from, to byte) int {
	s := L.CheckString(1)
	i := 0
	for i < len(s) && (s[i] < from || s[i] > to) {
		i++
	}
	if i == len(s) {
		L.Push(lua.LString(s))
		return 1
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if from <= b[i] && b[i] <= to {
			b[i] ^= 0x20
		}
	}
	L.Push(lua.LString(b))
	return 1
}
