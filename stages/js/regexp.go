package js

import (
	"fmt"
	"time"

	"github.com/dlclark/regexp2/v2"
	"github.com/dop251/goja"
)

// RegexpLimit bounds one regular-expression call of a script. goja runs
// the patterns Go's regexp package cannot (lookaround, backreferences) on
// regexp2, a backtracking matcher that a pattern such as /^(a+)+(?=b)/
// keeps busy for minutes, and that the runtime's interrupt cannot stop
// mid-match. regexp2 stops a match after RegexpLimit; goja would then
// report "no match", so every RegExp method (exec, test and the ones
// String.prototype.match, matchAll, replace, replaceAll, search and split
// call) throws a RangeError instead when it ran that long: never a wrong
// answer. A script call therefore ends within its timeout plus at most
// RegexpLimit.
const RegexpLimit = time.Second

func init() { regexp2.DefaultMatchTimeout = RegexpLimit }

// boundRegexps wraps the RegExp methods that match (see RegexpLimit).
func boundRegexps(vm *goja.Runtime) {
	proto := vm.Get("RegExp").ToObject(vm).Get("prototype").ToObject(vm)
	wrap := func(name string, orig goja.Callable) goja.Value {
		fn := vm.ToValue(func(call goja.FunctionCall) goja.Value {
			start := time.Now()
			v, err := orig(call.This, call.Arguments...)
			if err != nil {
				panic(err)
			}
			if time.Since(start) >= RegexpLimit {
				e, _ := vm.New(vm.Get("RangeError"), vm.ToValue(fmt.Sprintf(
					"regular expression %s ran for more than %v (catastrophic backtracking?)", call.This, RegexpLimit)))
				panic(e)
			}
			return v
		})
		_ = fn.ToObject(vm).DefineDataProperty("name", vm.ToValue(name), goja.FLAG_FALSE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		return fn
	}
	for _, name := range []string{"exec", "test"} {
		if orig, ok := goja.AssertFunction(proto.Get(name)); ok {
			_ = proto.DefineDataProperty(name, wrap(name, orig), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		}
	}
	for _, sym := range []*goja.Symbol{goja.SymMatch, goja.SymMatchAll, goja.SymReplace, goja.SymSearch, goja.SymSplit} {
		if orig, ok := goja.AssertFunction(proto.GetSymbol(sym)); ok {
			_ = proto.DefineDataPropertySymbol(sym, wrap("["+sym.String()+"]", orig), goja.FLAG_TRUE, goja.FLAG_TRUE, goja.FLAG_FALSE)
		}
	}
}
