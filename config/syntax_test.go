package config_test

import (
	"testing"

	"github.com/postbox/postbox/config"
)

// A YAML syntax error names the line the mistake is on and the field
// written there (yaml.v3 counts its parser's lines from 0).
func TestSyntaxErrorsNameTheirLineAndField(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"an unclosed [ in a hook", "listen: 127.0.0.1:0\nhooks:\n  - id: a\n    path: /a\n  - id: b\n    methods: [GET, POST\n    path: /b\n",
			`p.yaml:6: hooks[1].methods: a [ list opened here is not closed by ] (did not find expected ',' or ']')`},
		{"an unclosed [ on line 9", "# a\n# b\n# c\n# d\n# e\nlisten: 127.0.0.1:0\nhooks:\n  - id: a\n    methods: [GET\n",
			`p.yaml:9: hooks[0].methods: a [ list opened here is not closed by ] (did not find expected ',' or ']')`},
		{"an unclosed { at the top", "listen: 127.0.0.1:0\nadmin: {listen: 127.0.0.1:1\nhooks: []\n",
			`p.yaml:2: admin: a { mapping opened here is not closed by } (did not find expected ',' or '}')`},
		{"an unclosed [ on the first line", "trusted_proxies: [10.0.0.1\n",
			`p.yaml:1: trusted_proxies: a [ list opened here is not closed by ] (did not find expected ',' or ']')`},
		{"a list item out of line", "hooks:\n  - id: a\n    path: /a\n - id: b\n",
			`p.yaml:4: did not find expected key`},
		{"a tab (a scanner error, counted right already)", "listen: 127.0.0.1:0\n\tadmin: off\n",
			`p.yaml:2: found a tab character that violates indentation`},
		{"a key under a scalar in the second item", "hooks:\n  - id: a\n  - id: b\n    path: /b\n      extra: 1\n",
			`p.yaml:5: hooks[1].path.extra: mapping values are not allowed in this context`},
		{"an unclosed [ in an action's args", "hooks:\n  - id: a\n    actions:\n      - exec:\n          command: echo\n          args: [a, b\n",
			`p.yaml:6: hooks[0].actions[0].exec.args: a [ list opened here is not closed by ] (did not find expected ',' or ']')`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("p.yaml", []byte(tt.src), func(string) string { return "" })
			if err == nil || err.Error() != tt.want {
				t.Errorf("got  %v\nwant %s", err, tt.want)
			}
		})
	}
}
