package config_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/postbox/postbox/config"
)

// FuzzParse feeds arbitrary YAML to Parse: it must not panic, and it must
// either return a config or Problems whose every line (as postbox check
// prints them) starts with the file's name.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("../examples/postbox.yaml"); err == nil {
		f.Add(data)
	}
	for _, s := range []string{
		"hooks:\n  - id: lamp\n",
		"listen: 127.0.0.1:0\nadmin: off\nhooks:\n  - id: a\n    path: /x/{y}\n    methods: [GET]\n    response: {body: \"{{ .Path.y }}\"}\n",
		"hooks:\n  - id: a\n    auth: {token: {header: X-Token, secret: \"${TOKEN:-t}\"}}\n    when: payload.n > 1\n",
		"hooks:\n  - id: a\n    auth: {github: {secret: s}, ip: [10.0.0.0/8]}\n    dedup: {window: 1h}\n",
		"hooks:\n  - id: a\n    mode: sync\n    actions:\n      - exec: {command: /bin/echo, args: [\"{{ .Payload.x }}\"]}\n      - http: {url: \"http://127.0.0.1/\"}\n",
		"limits: {max_body: 1MiB, read_timeout: 1s, max_inflight: 8}\nhooks: [{id: a}]\n",
		"hooks:\n  - id: a\n    methds: [POST]\n",
		"hooks:\n  - id: a\n  - id: a\n",
		"hooks:\n  - id: a\n    path: /x/{a}\n  - id: b\n    path: /{b}/y\n",
		"- just\n- a list\n",
		"hooks: &a [*a]\n",
		"key: [unclosed\n",
		"\t- tab\n",
		"",
	} {
		f.Add([]byte(s))
	}
	getenv := func(name string) string {
		if name == "TOKEN" {
			return "fuzz-token"
		}
		return ""
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := config.Parse("fuzz.yaml", data, getenv)
		if err == nil {
			if cfg == nil {
				t.Fatalf("%q: neither a config nor an error", data)
			}
			return
		}
		var ps config.Problems
		if !errors.As(err, &ps) || len(ps) == 0 {
			t.Fatalf("%q: error %v (%T) is not a list of problems", data, err, err)
		}
		for _, p := range ps {
			line := p.String()
			if !strings.HasPrefix(line, "fuzz.yaml:") || strings.Contains(line, "\n") {
				t.Fatalf("%q: problem %q is not one line starting with fuzz.yaml:", data, line)
			}
		}
	})
}
