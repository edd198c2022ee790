package lua_test

import (
	"encoding/json"
	"strings"
)

func normalize(s string) string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		var v any
		if json.Unmarshal([]byte(l), &v) != nil {
			return "invalid: " + l
		}
		b, _ := json.Marshal(v)
		out = append(out, string(b))
	}
	return strings.Join(out, "\n")
}
