package js

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/dop251/goja"
)

// JSON.stringify writes NaN and ±Infinity as null without a word; pipe
// makes them a record error instead, as the lua stage does, so that a
// computation gone wrong does not leave a null the next stage reads as
// "no value". Only output that contains null can hide one: checkFinite
// then walks the value again with a replacer that finds the number.

// errNotFinite is thrown by the replacer (a Go panic goja turns into an
// exception, caught by stringify's caller).
type errNotFinite struct {
	key string
	f   float64
}

func (e errNotFinite) Error() string {
	where := ""
	if e.key != "" {
		where = " (field " + strconv.Quote(e.key) + ")"
	}
	return fmt.Sprintf("cannot output %v%s: JSON has no NaN or Infinity", e.f, where)
}

// checkFinite returns an error if val, whose JSON text is out, holds a
// number that JSON cannot represent.
func (v *vm) checkFinite(val goja.Value, out string) error {
	if !strings.Contains(out, "null") {
		return nil
	}
	var found *errNotFinite
	replacer := v.rt.ToValue(func(call goja.FunctionCall) goja.Value {
		x := call.Argument(1)
		if found == nil {
			if f, ok := nonFinite(x); ok {
				found = &errNotFinite{key: call.Argument(0).String(), f: f}
				panic(v.rt.NewGoError(found))
			}
		}
		return x
	})
	_, _ = v.stringify(goja.Undefined(), val, replacer)
	if found != nil {
		return *found
	}
	return nil
}

// nonFinite reports whether x is NaN or ±Infinity, as a number or a Number
// object.
func nonFinite(x goja.Value) (float64, bool) {
	if x == nil {
		return 0, false
	}
	if o, ok := x.(*goja.Object); ok {
		if o.ClassName() != "Number" {
			return 0, false
		}
		x = o.ToNumber()
	}
	f, ok := x.Export().(float64)
	return f, ok && (math.IsNaN(f) || math.IsInf(f, 0))
}
