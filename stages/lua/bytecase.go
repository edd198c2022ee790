package lua

import (
	"github.com/pipe-dev/pipe/stages/internal/bytecase"
	lua "github.com/yuin/gopher-lua"
)

// strUpper and strLower are string.upper and string.lower as in Lua 5.1:
// byte by byte, changing ASCII letters only, so that every other byte
// (UTF-8 sequences, invalid or not) stays as it was. (gopher-lua's own
// go through Go's strings.ToUpper, which turns invalid UTF-8 into U+FFFD.)
func strUpper(L *lua.LState) int { return strCase(L, 'a', 'z') }
func strLower(L *lua.LState) int { return strCase(L, 'A', 'Z') }

// strCase flips the case of the bytes from..to of its string argument. A
// string without such a byte is returned as it is (no copy).
func strCase(L *lua.LState, from, to byte) int {
	s := L.CheckString(1)
	L.Push(lua.LString(bytecase.Flip(s, from, to)))
	return 1
}
