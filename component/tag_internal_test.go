package component

import (
	"reflect"
	"testing"
)

var tagCases = []string{
	``,
	`yaml:"name"`,
	`yaml:"name,omitempty" doc:"a long text: with \"quotes\", commas, and yaml:\"x\" inside" default:"5" enum:"a,b" required:"true" example:"7"`,
	`doc:"first" doc:"second"`,
	`yaml:"a" yaml:"b"`,
	`default:"\x" default:"5"`, // the first does not unquote: Get gives ""
	`yaml:"a"  default:"1"   `,
	`yaml:"a",default:"1"`, // syntax error after the first pair
	`yaml:a default:"1"`,
	`yaml:"a" default:"1`, // unterminated
	`json:"x" other:"y" enum:"p,q"`,
	`yaml:"-"`,
	`yaml:",inline"`,
	"yaml:\"a\"\tdefault:\"1\"", // a tab is not a separator
	`yaml:"é" doc:"ünïcode"`,
}

// TestTagValuesMatchGet: one pass over a tag gives what reflect's
// StructTag.Get gives for each key ParseTag reads.
func TestTagValuesMatchGet(t *testing.T) {
	for _, tc := range tagCases {
		checkTagValues(t, tc)
	}
}

func FuzzTagValues(f *testing.F) {
	for _, tc := range tagCases {
		f.Add(tc)
	}
	f.Fuzz(checkTagValues)
}

func checkTagValues(t *testing.T, tag string) {
	got := tagValues(reflect.StructTag(tag))
	for k, key := range tagKeyNames {
		if want := reflect.StructTag(tag).Get(key); got[k] != want {
			t.Errorf("tag %q: %s = %q, Get gives %q", tag, key, got[k], want)
		}
	}
}
