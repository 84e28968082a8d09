package config

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// shorthand is a setting with a scalar form and a mapping form, like
// admin:, for the checker's sake.
type shorthand struct {
	Addr  string `yaml:"addr"`
	Token string `yaml:"token"`
}

func (s *shorthand) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.Addr = n.Value
		return nil
	}
	type plain shorthand
	return n.Decode((*plain)(s))
}

// TestCheckKnownLooksInsideUnmarshalers checks that a struct with its own
// UnmarshalYAML, at any depth, still has its keys checked: yaml.v3 decodes
// its mapping without refusing unknown keys.
func TestCheckKnownLooksInsideUnmarshalers(t *testing.T) {
	var out struct {
		Top    shorthand             `yaml:"top"`
		Nested struct{ S shorthand } `yaml:"nested"`
		List   []shorthand           `yaml:"list"`
		Map    map[string]shorthand  `yaml:"map"`
	}
	src := "top: {addr: x, tokn: y}\nnested: {s: {tokne: y}}\nlist: [{adr: x}]\nmap: {k: {token: y, extra: z}}\n"
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	l := &loader{file: "p.yaml", root: doc.Content[0]}
	l.decode(doc.Content[0], "", &out)
	var got []string
	for _, p := range l.problems {
		got = append(got, p.String())
	}
	want := []string{
		`p.yaml:1: top.tokn: unknown key (did you mean "token"?)`,
		`p.yaml:2: nested.s.tokne: unknown key (did you mean "token"?)`,
		`p.yaml:3: list[0].adr: unknown key (did you mean "addr"?)`,
		`p.yaml:4: map.k.extra: unknown key (known keys: addr, token)`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}
