package native

import (
	"bytes"
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// number is a number of a stage's config, for exact comparison with JSON
// numbers: float64 alone would find 9007199254740992 equal to
// 9007199254740993 (both round to the same float).
type number struct {
	f     float64
	r     *big.Rat // its exact value; nil for ±Inf and NaN
	exact bool     // f is exactly r
}

// numberOf converts a decoded YAML number; ok is false for other values.
// A YAML float counts as the decimal it is written as (its shortest
// representation): 0.1 equals the JSON number 0.1.
func numberOf(v any) (n number, ok bool) {
	r := new(big.Rat)
	switch x := v.(type) {
	case int:
		r.SetInt64(int64(x))
		n.f = float64(x)
	case int64:
		r.SetInt64(x)
		n.f = float64(x)
	case uint64:
		r.SetUint64(x)
		n.f = float64(x)
	case float64:
		n.f = x
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return n, true
		}
		r.SetString(strconv.FormatFloat(x, 'g', -1, 64))
	default:
		return n, false
	}
	n.r = r
	n.exact = new(big.Rat).SetFloat64(n.f).Cmp(r) == 0
	return n, true
}

// cmp compares the JSON number v with n exactly: -1, 0 or +1.
func (n number) cmp(v gjson.Result) int {
	switch {
	case v.Num < n.f:
		return -1
	case v.Num > n.f:
		return 1
	case n.r == nil || n.exact && floatExact(v.Raw):
		return 0 // rounding is monotonic: equal floats of exact values are equal values
	}
	x, ok := ratOf(v.Raw)
	if !ok {
		return 0
	}
	return x.Cmp(n.r)
}

// floatExact reports whether the JSON number raw is an integer of at most
// 15 digits, which a float64 holds exactly.
func floatExact(raw string) bool {
	s := strings.TrimPrefix(raw, "-")
	if len(s) == 0 || len(s) > 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// maxExponent bounds the exponent ratOf expands (big.Rat would build a
// number of that many digits); beyond it a number is left to float64.
const maxExponent = 1000

// ratOf parses the JSON number raw exactly.
func ratOf(raw string) (*big.Rat, bool) {
	if i := strings.IndexAny(raw, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(raw[i+1:], "+"))
		if err != nil || e > maxExponent || e < -maxExponent {
			return nil, false
		}
	}
	return new(big.Rat).SetString(raw)
}

// jsonEqual reports whether two JSON values are equal: objects with the
// same keys and values in any order, arrays element by element, numbers by
// their exact value (1.0 equals 1, 9007199254740993 does not equal
// 9007199254740992).
func jsonEqual(a, b gjson.Result) bool {
	x, ok1 := decodeExact(a.Raw)
	y, ok2 := decodeExact(b.Raw)
	return ok1 && ok2 && equalValues(x, y)
}

func decodeExact(raw string) (any, bool) {
	d := json.NewDecoder(bytes.NewReader([]byte(raw)))
	d.UseNumber()
	var v any
	return v, d.Decode(&v) == nil
}

func equalValues(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			w, ok := y[k]
			if !ok || !equalValues(v, w) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValues(x[i], y[i]) {
				return false
			}
		}
		return true
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		if x == y {
			return true
		}
		p, ok1 := ratOf(string(x))
		q, ok2 := ratOf(string(y))
		return ok1 && ok2 && p.Cmp(q) == 0
	}
	return a == b // strings, booleans, nil
}
