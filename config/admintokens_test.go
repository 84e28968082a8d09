package config_test

import (
	"slices"
	"strings"
	"testing"
)

// TestAdminTokens reads admin.tokens: named tokens with scopes (admin by
// default) and hook limits, and refuses every mistake with its line.
func TestAdminTokens(t *testing.T) {
	const hooks = "hooks:\n  - id: github\n  - id: stripe\n"
	cfg := parse(t, "admin:\n  listen: 0.0.0.0:8091\n  tokens:\n"+
		"    - {name: ops, token: ops-token-0123456789}\n"+
		"    - {name: laptop, token: relay-token-0123456789, scopes: [relay], hooks: [github]}\n"+hooks)
	if len(cfg.AdminTokens) != 2 {
		t.Fatalf("tokens = %+v, want 2", cfg.AdminTokens)
	}
	if ops := cfg.AdminTokens[0]; ops.Name != "ops" || !slices.Equal(ops.Scopes, []string{"admin"}) || ops.Hooks != nil {
		t.Errorf("a token without scopes = %+v, want the admin scope and every hook", ops)
	}
	if l := cfg.AdminTokens[1]; l.Token != "relay-token-0123456789" || !slices.Equal(l.Scopes, []string{"relay"}) || !slices.Equal(l.Hooks, []string{"github"}) {
		t.Errorf("relay token = %+v", l)
	}

	tests := []struct {
		name, tokens string
		want         []string
	}{
		{"a token without a name",
			"    - {token: relay-token-0123456789, scopes: [relay]}\n",
			[]string{`p.yaml:3: admin.tokens[0].name is missing: name each token (it is shown as the listener of the deliveries it relays)`}},
		{"a name used twice",
			"    - {name: a, token: relay-token-0123456789}\n    - {name: a, token: other-token-0123456789}\n",
			[]string{`p.yaml:4: admin.tokens[1].name: "a" is used twice (admin.token is named admin)`}},
		{"a name with a space",
			"    - {name: my laptop, token: relay-token-0123456789}\n",
			[]string{`p.yaml:3: admin.tokens[0].name: "my laptop": use letters, digits, '.', '_' and '-'`}},
		{"a short token",
			"    - {name: a, token: short}\n",
			[]string{`p.yaml:3: admin.tokens[0].token is too short (5 of at least 16 characters): use a long random token, such as one from openssl rand -hex 32`}},
		{"a token without its secret",
			"    - {name: a, scopes: [read]}\n",
			[]string{`p.yaml:3: admin.tokens[0].token is missing: set token: ${A_TOKEN} or token_file: path`}},
		{"two tokens with one secret",
			"    - {name: a, token: relay-token-0123456789}\n    - {name: b, token: relay-token-0123456789}\n",
			[]string{`p.yaml:4: admin.tokens[1].token is the same as another admin token: each token needs its own`}},
		{"an unknown scope",
			"    - {name: a, token: relay-token-0123456789, scopes: [write]}\n",
			[]string{`p.yaml:3: admin.tokens[0].scopes: "write" is not a scope: use admin, read or relay`}},
		{"hooks on an admin token",
			"    - {name: a, token: relay-token-0123456789, hooks: [github]}\n",
			[]string{`p.yaml:3: admin.tokens[0].hooks: a token with the admin scope sees every hook: give it scopes: [read] or [relay] to limit it to hooks`}},
		{"an unknown hook",
			"    - {name: a, token: relay-token-0123456789, scopes: [relay], hooks: [githib]}\n",
			[]string{`p.yaml:3: admin.tokens[0].hooks: no hook "githib" (did you mean "github"?)`}},
		{"an unknown key",
			"    - {name: a, token: relay-token-0123456789, scope: [relay]}\n",
			[]string{`p.yaml:3: admin.tokens[0].scope: unknown key (did you mean "scopes"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "admin:\n  tokens:\n" + tt.tokens + hooks
			got := problems(t, src)
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems of\n%s\ngot:\n  %s\nwant:\n  %s", src, strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}
