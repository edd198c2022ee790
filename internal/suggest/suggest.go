// Package suggest finds the name a user probably meant: the "did you mean"
// of unknown fields, stage kinds and subcommands.
package suggest

import (
	"fmt"
	"slices"
	"strings"
)

// Closest returns the candidate within edit distance 2 of s (the first of
// the nearest, in the order given), or "" if there is none.
func Closest(s string, cands []string) string {
	best, bestD := "", 3
	for _, c := range cands {
		if d := Distance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// UnknownField returns the message for a field name that is not one of
// known: `unknown field "x" (did you mean "y"?); known fields: a, b`, the
// known fields sorted. known is not modified.
func UnknownField(name string, known []string) string {
	msg := fmt.Sprintf("unknown field %q", name)
	if s := Closest(name, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	sorted := slices.Clone(known)
	slices.Sort(sorted)
	return msg + "; known fields: " + strings.Join(sorted, ", ")
}

// Distance is the Levenshtein distance between a and b, in bytes.
func Distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
