package script

import (
	"errors"
	"fmt"
)

// MaxDepth is how deeply the JSON values that scripts receive may nest
// (arrays and objects within each other): a record, a field of a lazy
// record, a value pipe.json.decode parses. A deeper value is a record error
// (ErrTooDeep), found in one pass over its bytes before any conversion, so
// that converting a record costs time linear in its size and a hostile
// record of nested brackets cannot keep a stage busy past its timeout.
// Lua's encoder refuses values nested deeper than this too.
const MaxDepth = 200

// ErrTooDeep is the error of a JSON value nested deeper than MaxDepth.
var ErrTooDeep = errors.New("JSON value nested deeper than " + fmt.Sprint(MaxDepth) + " levels")

// CheckDepth returns ErrTooDeep when the JSON value b nests arrays and
// objects deeper than MaxDepth. It reads b once and stops at the first
// level too deep; b is assumed valid JSON (brackets inside strings do not
// count).
func CheckDepth(b []byte) error {
	depth := 0
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		case '[', '{':
			if depth++; depth > MaxDepth {
				return ErrTooDeep
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}
