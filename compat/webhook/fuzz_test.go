package webhook

import (
	"testing"

	"github.com/postbox/postbox/config"
	"gopkg.in/yaml.v3"
)

// FuzzConvert feeds arbitrary hooks files to the converter: it must never
// panic, and what it prints must always be YAML that config reads without
// panicking (it may refuse it: a command need not exist here).
func FuzzConvert(f *testing.F) {
	f.Add([]byte(`[{"id": "a", "execute-command": "/bin/echo", "pass-arguments-to-command": [{"source": "payload", "name": "a.0.b-c"}]}]`))
	f.Add([]byte(`[{"id": "gh", "execute-command": "/bin/echo", "trigger-rule": {"and": [` + sig256 + `, ` + refMain + `, {"not": {"or": [` + ipLocal + `, ` + tokenOK + `]}}]}}]`))
	f.Add([]byte("- id: y\n  execute-command: /bin/echo\n  response-message: '${X} {{ y }}'\n  http-methods: [get]\n"))
	f.Add([]byte(`[{"id": "x:y", "execute-command": "e", "trigger-rule": {"match": {"type": "regex", "regex": "\\d", "parameter": {"source": "query", "name": "in"}}}}]`))
	// A key holding a control character: it reaches a comment (CI found it).
	f.Add([]byte("[{\"id\": \"0\", \"\\u0001\": 1, \"x\\ny\": 2}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := Convert("fuzz.json", data)
		if err != nil {
			return
		}
		out := res.YAML()
		var doc yaml.Node
		if err := yaml.Unmarshal(out, &doc); err != nil {
			t.Fatalf("the output is not YAML: %v\n%s", err, out)
		}
		config.Parse("fuzz.yaml", out, func(string) string { return "" })
	})
}
