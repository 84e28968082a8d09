package config

import (
	"fmt"
	"os"
	"slices"

	"gopkg.in/yaml.v3"
)

// storeKeys are the settings a command that only reads or manages the
// store needs.
var storeKeys = []string{"data", "store"}

// retentionKeys are the settings the commands that prune or describe the
// store need: the store's, retention:, and of each hook its id and
// retention: alone (see hookKeys).
var retentionKeys = []string{"data", "store", "retention", "hooks"}

// hookKeys are the keys of a hook that loadPart keeps when it reads hooks:
// never auth: or actions:, which hold secrets.
var hookKeys = []string{"id", "retention"}

// adminKeys are the settings a command that talks to a running server's
// admin API needs.
var adminKeys = []string{"admin"}

// LoadStore reads from the file at path only what a command that reads or
// manages the store needs (data: and store:), expanding ${ENV} in those
// alone: the hooks and their secrets are not read, so that `postbox
// deliveries` or `migrate` works in a shell that lacks the variables and
// credentials only the server gets. Data is resolved against the file's
// directory, as Load does. Every other field of the Config is zero.
func LoadStore(path string, getenv func(string) string) (*Config, error) {
	return loadPart(path, getenv, storeKeys)
}

// LoadRetention is LoadStore for the commands that prune or describe the
// store (deliveries prune, store stats): it also reads retention:, the
// top level's and each hook's, and nothing else of the hooks.
func LoadRetention(path string, getenv func(string) string) (*Config, error) {
	return loadPart(path, getenv, retentionKeys)
}

// LoadAdmin is LoadStore for a command that talks to a running server's
// admin API: it reads admin: (address, token and hosts) and nothing else.
func LoadAdmin(path string, getenv func(string) string) (*Config, error) {
	return loadPart(path, getenv, adminKeys)
}

// loadPart reads and checks the top-level keys of the file at path, and no
// other.
func loadPart(path string, getenv func(string) string, keys []string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	l := &loader{file: path, getenv: getenv}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Problems{l.syntaxProblem(err, data)}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, Problems{{File: path, Message: "the file must be a mapping of settings (listen:, hooks:, ...)"}}
	}
	// A mapping of the wanted keys alone: nothing else is expanded,
	// decoded or checked.
	part := &yaml.Node{Kind: yaml.MappingNode, Line: doc.Content[0].Line}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		for _, k := range keys {
			if root.Content[i].Value != k {
				continue
			}
			v := root.Content[i+1]
			if k == "hooks" {
				v = onlyHookKeys(v)
			}
			part.Content = append(part.Content, root.Content[i], v)
		}
	}
	l.root = part
	l.expand(part, "")
	var fc fileConfig
	l.decode(part, "", &fc)
	cfg := &Config{File: path, Data: l.relative(orDefault(fc.Data, DefaultData)), Store: fc.Store,
		Admin: orDefault(fc.Admin.Listen, DefaultAdmin), AdminToken: fc.Admin.Token, AdminHosts: fc.Admin.Hosts}
	if slices.Contains(keys, "retention") {
		l.buildRetention(part, &fc, cfg)
	}
	if len(l.problems) > 0 {
		return nil, l.problems
	}
	return cfg, nil
}

// onlyHookKeys is a hooks: sequence whose hook mappings keep hookKeys
// alone, so that nothing of their authentication or actions is expanded,
// decoded or checked.
func onlyHookKeys(hooks *yaml.Node) *yaml.Node {
	if hooks.Kind != yaml.SequenceNode {
		return hooks // the decoder reports it
	}
	out := &yaml.Node{Kind: yaml.SequenceNode, Line: hooks.Line, Column: hooks.Column}
	for _, h := range hooks.Content {
		if h.Kind != yaml.MappingNode {
			out.Content = append(out.Content, h)
			continue
		}
		kept := &yaml.Node{Kind: yaml.MappingNode, Line: h.Line, Column: h.Column}
		for i := 0; i+1 < len(h.Content); i += 2 {
			if slices.Contains(hookKeys, h.Content[i].Value) {
				kept.Content = append(kept.Content, h.Content[i], h.Content[i+1])
			}
		}
		out.Content = append(out.Content, kept)
	}
	return out
}
