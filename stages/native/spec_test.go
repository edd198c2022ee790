package native_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/pipe-dev/pipe/engine"
)

// README.md's section of each transformer mentions every field of its
// spec, so the prose cannot fall behind the code (the full reference is
// generated into docs/reference).
func TestREADMEMentionsEveryField(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	parts := regexp.MustCompile(`(?m)^### `).Split(string(b), -1)
	for _, p := range parts[1:] {
		title, body, _ := strings.Cut(p, "\n")
		for _, name := range strings.Split(title, ", ") {
			sections[strings.TrimSpace(name)] = body
		}
	}
	for _, n := range engine.DefaultRegistry.Natives() {
		body, ok := sections[n.Name]
		if !ok {
			t.Errorf("README.md has no section for %s", n.Name)
			continue
		}
		for _, f := range n.Spec().Fields {
			if !strings.Contains(body, "`"+f.Name+"`") && !strings.Contains(body, f.Name+":") {
				t.Errorf("README.md's section of %s does not mention its field %s", n.Name, f.Name)
			}
		}
	}
}
