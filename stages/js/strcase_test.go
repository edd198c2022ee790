package js

import (
	"testing"

	"github.com/dop251/goja"
)

// TestFastCase checks toUpperCase and toLowerCase with the ASCII fast path
// against goja's own, on ASCII and other text, String objects and other
// this values, and that the methods look as built in.
func TestFastCase(t *testing.T) {
	const probe = `[
		"", "a", "Hello, World! 0123456789 {\"level\":\"error\"}", "already UPPER", "MiXeD cAsE with ~` + "`" + ` and @[]",
		"caf\u00e9", "stra\u00dfe", "\u0131stanbul", "\ud800 lone", "long ascii text that is longer than eight bytes and then \u00e9",
	].flatMap(s => [s.toUpperCase(), s.toLowerCase()])
	.concat([
		String.prototype.toUpperCase.call(new String("boxed")),
		String.prototype.toLowerCase.call(42),
		(() => { try { return String.prototype.toUpperCase.call(null) } catch (e) { return e.name } })(),
		String.prototype.toUpperCase.name, String.prototype.toLowerCase.length,
		Object.keys(String.prototype).join(","),
		JSON.stringify(Object.getOwnPropertyDescriptor(String.prototype, "toUpperCase").enumerable),
		JSON.stringify(Object.getOwnPropertyDescriptor(String.prototype.toUpperCase, "name")),
	]).join("|")`
	plain := goja.New()
	want, err := plain.RunString(probe)
	if err != nil {
		t.Fatal(err)
	}
	fast := goja.New()
	fastCase(fast)
	got, err := fast.RunString(probe)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("with the fast path:\n%s\nwant\n%s", got, want)
	}
	for _, c := range []struct {
		in, up string
		ok     bool
	}{{"", "", true}, {"abc xyz{}", "ABC XYZ{}", true}, {"0123456789abcdefghij`{", "0123456789ABCDEFGHIJ`{", true}, {"caf\u00e9", "", false}} {
		rt := goja.New()
		findASCII(rt)
		up, ok := asciiCase(rt, c.in, true)
		if ok != c.ok || (ok && (up.String() != c.up || !up.StrictEquals(rt.ToValue(c.up)))) {
			t.Errorf("asciiCase(%q) = %v, %v", c.in, up, ok)
		}
	}
}
