package cli

import (
	"reflect"
	"testing"
)

// scalar's fast path for plain words gives what the YAML parser gives.
func TestScalarPlainWords(t *testing.T) {
	for _, v := range []string{"upper", "lower", "Upper", "snake_case", "kebab-case", "x", "NaN", "inf", "Infinity",
		"true", "True", "FALSE", "yes", "No", "on", "OFF", "y", "N", "null", "Null", "NULL", "~", "", "-", "_a", "-a",
		"a1", "1", "0x1f", "1e3", ".inf", "a b", "a:b", "é"} {
		fast, _ := scalar(v)
		parsed, _ := parseScalar(v)
		if !reflect.DeepEqual(fast, parsed) {
			t.Errorf("scalar(%q) = %#v, the parser says %#v", v, fast, parsed)
		}
		if plainWord(v) && fast != v {
			t.Errorf("plainWord(%q) but scalar gave %#v", v, fast)
		}
	}
}
