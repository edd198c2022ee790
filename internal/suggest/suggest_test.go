package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"abc", "", 3}, {"", "ab", 2}, {"kitten", "sitting", 3},
		{"codec", "codce", 2}, {"timeout", "timeout", 0}, {"on_eror", "on_error", 1},
	} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	names := []string{"codec", "timeout", "on_error", "workers"}
	for _, tt := range []struct{ in, want string }{
		{"timout", "timeout"}, {"worker", "workers"}, {"on_eror", "on_error"},
		{"zzzzzz", ""}, {"", ""},
	} {
		if got := Closest(tt.in, names); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUnknownField(t *testing.T) {
	known := []string{"workers", "codec"}
	got := UnknownField("worker", known)
	want := `unknown field "worker" (did you mean "workers"?); known fields: codec, workers`
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if known[0] != "workers" {
		t.Error("UnknownField sorted its argument in place")
	}
	if got := UnknownField("zzz", known); got != `unknown field "zzz"; known fields: codec, workers` {
		t.Errorf("got %q", got)
	}
}
