package config

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Scopes of an admin token (admin.tokens[].scopes).
const (
	// ScopeAdmin grants every route: the console, the API (replay and
	// resume included) and /metrics. admin.token has it, and so has an
	// entry of admin.tokens that lists no scopes.
	ScopeAdmin = "admin"
	// ScopeRead grants every route that changes nothing (GET).
	ScopeRead = "read"
	// ScopeRelay grants the relay feed (GET /api/relay, which postbox
	// listen follows) and reading the deliveries it lists.
	ScopeRelay = "relay"
)

// AdminToken is one entry of admin.tokens: a named bearer token with its
// scopes and, optionally, the hooks it may see.
type AdminToken struct {
	Name   string
	Token  string
	Scopes []string // ScopeAdmin, ScopeRead, ScopeRelay; never empty once loaded
	// Hooks, when not empty, are the only hooks whose deliveries the token
	// may list, read and follow. Only a token without the admin scope has
	// them.
	Hooks []string
}

// adminTokenConfig is an entry of admin.tokens as written.
type adminTokenConfig struct {
	Name   string   `yaml:"name"`
	Token  string   `yaml:"token"`
	Scopes []string `yaml:"scopes"`
	Hooks  []string `yaml:"hooks"`
}

// buildAdminTokens validates admin.tokens into cfg.AdminTokens. It runs
// after the hooks are built, to check the hook ids tokens name.
func (l *loader) buildAdminTokens(root *yaml.Node, fc *fileConfig, cfg *Config) {
	list := findKey(findKey(root, "admin"), "tokens")
	node := func(i int, key string) *yaml.Node {
		if list == nil || list.Kind != yaml.SequenceNode || i >= len(list.Content) {
			return list
		}
		if n := findKey(list.Content[i], key); n != nil {
			return n
		}
		return list.Content[i]
	}
	names := map[string]bool{"admin": true}
	secrets := map[string]bool{}
	if cfg.AdminToken != "" {
		secrets[cfg.AdminToken] = true
	}
	hooks := map[string]bool{}
	for _, h := range cfg.Hooks {
		hooks[h.ID] = true
	}
	for i, tc := range fc.Admin.Tokens {
		field := fmt.Sprintf("admin.tokens[%d]", i)
		t := AdminToken(tc)
		switch {
		case t.Name == "":
			l.addf(node(i, "name"), field+".name", "is missing: name each token (it is shown as the listener of the deliveries it relays)")
		case !idPattern.MatchString(t.Name):
			l.addf(node(i, "name"), field+".name", "%q: use letters, digits, '.', '_' and '-'", t.Name)
		case names[t.Name]:
			l.addf(node(i, "name"), field+".name", "%q is used twice (admin.token is named admin)", t.Name)
		}
		names[t.Name] = true
		if !l.hasProblem(field + ".token") {
			switch n := utf8.RuneCountInString(t.Token); {
			case t.Token == "":
				l.addf(node(i, "token"), field+".token", "is missing: set token: ${A_TOKEN} or token_file: path")
			case n < MinAdminToken:
				l.addf(node(i, "token"), field+".token", "is too short (%d of at least %d characters): use a long random token, such as one from openssl rand -hex 32", n, MinAdminToken)
			case secrets[t.Token]:
				l.addf(node(i, "token"), field+".token", "is the same as another admin token: each token needs its own")
			}
		}
		secrets[t.Token] = true
		if len(t.Scopes) == 0 {
			t.Scopes = []string{ScopeAdmin}
		}
		for _, sc := range t.Scopes {
			if sc != ScopeAdmin && sc != ScopeRead && sc != ScopeRelay {
				l.addf(node(i, "scopes"), field+".scopes", "%q is not a scope: use admin, read or relay", sc)
			}
		}
		if len(t.Hooks) > 0 && slices.Contains(t.Scopes, ScopeAdmin) {
			l.addf(node(i, "hooks"), field+".hooks", "a token with the admin scope sees every hook: give it scopes: [read] or [relay] to limit it to hooks")
		}
		for _, h := range t.Hooks {
			if !hooks[h] {
				ids := make([]string, 0, len(cfg.Hooks))
				for _, h := range cfg.Hooks {
					ids = append(ids, h.ID)
				}
				l.addf(node(i, "hooks"), field+".hooks", "no hook%s", suggestName(h, ids))
			}
		}
		cfg.AdminTokens = append(cfg.AdminTokens, t)
	}
}

// hasProblem reports whether a problem was already reported for field (a
// ${VAR} unset or an unreadable token_file): one mistake, one problem.
func (l *loader) hasProblem(field string) bool {
	for _, p := range l.problems {
		if p.Field == field || p.Field == field+"_file" {
			return true
		}
	}
	return false
}
