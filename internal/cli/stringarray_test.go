package cli

import (
	"reflect"
	"testing"

	"github.com/spf13/pflag"
)

// TestStringArrayMatchesPflag: the plugin flags' value behaves as pflag's
// StringArrayVar: the same type, default text, values after repeated
// flags (the first replaces the default), text, help, GetStringArray.
func TestStringArrayMatchesPflag(t *testing.T) {
	for _, args := range [][]string{
		nil, {"--x", "a"}, {"--x", "a", "--x", "b,c"}, {"--x", `q"u,o`, "--x", "", "--x", "two words"}, {"--x=a b"},
	} {
		var want, got []string
		ref := pflag.NewFlagSet("ref", pflag.ContinueOnError)
		ref.StringArrayVar(&want, "x", nil, "usage")
		ours := pflag.NewFlagSet("ours", pflag.ContinueOnError)
		addStringArray(ours, &got, "x", "usage")
		if err := ref.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := ours.Parse(args); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%q: values %q, pflag's %q", args, got, want)
		}
		rf, of := ref.Lookup("x"), ours.Lookup("x")
		if of.Value.String() != rf.Value.String() || of.Value.Type() != rf.Value.Type() {
			t.Errorf("%q: text %q type %q, pflag's %q %q", args, of.Value.String(), of.Value.Type(), rf.Value.String(), rf.Value.Type())
		}
		if u, w := ours.FlagUsages(), ref.FlagUsages(); u != w {
			t.Errorf("%q: help %q, pflag's %q", args, u, w)
		}
		g, err1 := ours.GetStringArray("x")
		w, err2 := ref.GetStringArray("x")
		if !reflect.DeepEqual(g, w) || (err1 == nil) != (err2 == nil) {
			t.Errorf("%q: GetStringArray %q %v, pflag's %q %v", args, g, err1, w, err2)
		}
	}
	var v []string
	s := &stringArray{value: &v}
	if err := s.Replace([]string{"a", "b"}); err != nil || !reflect.DeepEqual(s.GetSlice(), []string{"a", "b"}) {
		t.Errorf("Replace/GetSlice: %q", s.GetSlice())
	}
	if err := s.Append("c"); err != nil || !reflect.DeepEqual(v, []string{"a", "b", "c"}) {
		t.Errorf("Append: %q", v)
	}
}
