package celrule

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestDocumentedExamplesCompile compiles every expression in the cel code
// blocks of docs/rules.md, one a line.
func TestDocumentedExamplesCompile(t *testing.T) {
	f, err := os.Open("../docs/rules.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	in, n := false, 0
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		switch {
		case text == "```cel":
			in = true
		case strings.HasPrefix(text, "```"):
			in = false
		case in && text != "" && !strings.HasPrefix(text, "//"):
			n++
			if _, err := Compile(text); err != nil {
				t.Errorf("docs/rules.md:%d: %s: %v", line, text, err)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Errorf("found %d examples in docs/rules.md, want at least 20", n)
	}
}
