package config

import (
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// storeKeys are the settings a command that only reads or manages the
// store needs.
var storeKeys = []string{"data", "store"}

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
		return nil, Problems{{File: path, Msg: "the file must be a mapping of settings (listen:, hooks:, ...)"}}
	}
	// A mapping of the wanted keys alone: nothing else is expanded,
	// decoded or checked.
	part := &yaml.Node{Kind: yaml.MappingNode, Line: doc.Content[0].Line}
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		for _, k := range keys {
			if root.Content[i].Value == k {
				part.Content = append(part.Content, root.Content[i], root.Content[i+1])
			}
		}
	}
	l.root = part
	l.expand(part, "")
	var fc fileConfig
	l.decode(part, "", &fc)
	cfg := &Config{File: path, Data: l.relative(orDefault(fc.Data, DefaultData)), Store: fc.Store,
		Admin: orDefault(fc.Admin.Listen, DefaultAdmin), AdminToken: fc.Admin.Token, AdminHosts: fc.Admin.Hosts}
	if len(l.problems) > 0 {
		return nil, l.problems
	}
	return cfg, nil
}
