package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/postbox/postbox/config"
)

var yamlBlock = regexp.MustCompile("(?s)```yaml\n(.*?)```")

// TestDocumentedConfigsLoad keeps the configs shown in README.md and docs/
// valid: every YAML block that is a whole config (it has hooks:) must load.
// Commands that exist only on the reader's machine are the one allowance.
func TestDocumentedConfigsLoad(t *testing.T) {
	files, _ := filepath.Glob("../docs/*.md")
	files = append(files, "../README.md")
	// A value that also passes as a whsec_ secret; tokens (*_TOKEN) differ
	// by name, as admin tokens must.
	env := func(name string) string {
		if strings.HasSuffix(name, "_TOKEN") {
			return "token-of-" + name
		}
		return "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIJgtMM7Ku"
	}
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, m := range yamlBlock.FindAllStringSubmatch(string(data), -1) {
			block := m[1]
			if !strings.HasPrefix(block, "hooks:") && !strings.Contains(block, "\nhooks:") {
				continue
			}
			checked++
			name := filepath.Base(f) + "#" + string(rune('0'+i))
			_, err := config.Parse(name, []byte(block), env)
			if err == nil {
				continue
			}
			for _, line := range strings.Split(err.Error(), "\n") {
				// Files the reader's machine has: a command, a schema, a
				// secret file.
				if strings.Contains(line, "is not an executable file or not in PATH") || strings.Contains(line, "cannot load") ||
					strings.Contains(line, "cannot read secret file") {
					continue
				}
				t.Errorf("%s: a documented config does not load: %s", f, line)
			}
		}
	}
	if checked == 0 {
		t.Fatal("no documented config found")
	}
}
