package yamlcomment

import (
	"testing"

	"gopkg.in/yaml.v3"
)

func TestLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"hooks.json", "hooks.json"},
		{"ünïcödé ✓ and spaces", "ünïcödé ✓ and spaces"},
		{"a\nb", `a\nb`},
		{"tab\there", `tab\there`},
		{"k\x01y\x7f", `k\x01y\x7f`},
		{"nel\u0085 ls\u2028 ps\u2029 bom\ufeff", `nel\u0085 ls\u2028 ps\u2029 bom\ufeff`},
		{"bad\xff\xfe.yaml", `bad\xff\xfe.yaml`},
		{"replacement \ufffd kept apart from a bad byte \xc3", "replacement \ufffd kept apart from a bad byte \\xc3"},
	}
	for _, tt := range tests {
		if got := Line(tt.in); got != tt.want {
			t.Errorf("Line(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// What Line returns, as a head comment, encodes without a panic and reads
// back as one comment with no YAML leaking out of it.
func FuzzLine(f *testing.F) {
	f.Add("plain")
	f.Add("a\nkey: value")
	f.Add("\x00\xff\u2028")
	f.Fuzz(func(t *testing.T, s string) {
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: "k"},
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: "v"},
		}}
		n.HeadComment = "# " + Line(s)
		out, err := yaml.Marshal(n)
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		var m map[string]string
		if err := yaml.Unmarshal(out, &m); err != nil {
			t.Fatalf("the output is not YAML: %v\n%s", err, out)
		}
		if len(m) != 1 || m["k"] != "v" {
			t.Fatalf("the comment leaked into the document: %v\n%s", m, out)
		}
	})
}
