package webhook

import (
	"strconv"
	"strings"

	"github.com/postbox/postbox/internal/yamlcomment"
	"gopkg.in/yaml.v3"
)

// The generated configuration is built as yaml.v3 nodes, so that quoting
// is always right and comments sit where they help.

// str is a string scalar; the encoder quotes it when it would read back as
// another type ("200", "true", "0x1").
func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// quoted is a string scalar always written in double quotes, for values a
// reader should see as one string (templates, secrets).
func quoted(s string) *yaml.Node {
	n := str(s)
	n.Style = yaml.DoubleQuotedStyle
	return n
}

func integer(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

// mapping builds a mapping from key, value pairs, in order.
func mapping(pairs ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(pairs); i += 2 {
		set(n, pairs[i].(string), pairs[i+1].(*yaml.Node))
	}
	return n
}

// flow makes n (a mapping or sequence) print on one line.
func flow(n *yaml.Node) *yaml.Node {
	n.Style = yaml.FlowStyle
	return n
}

// set adds key: v to mapping n, replacing an earlier value of key.
func set(n *yaml.Node, key string, v *yaml.Node) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			n.Content[i+1] = v
			return n.Content[i]
		}
	}
	k := str(key)
	n.Content = append(n.Content, k, v)
	return k
}

// get returns the value of key in mapping n, or nil.
func get(n *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func sequence(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Content: items}
}

func strings2seq(ss []string) *yaml.Node {
	n := sequence()
	for _, s := range ss {
		n.Content = append(n.Content, str(s))
	}
	return n
}

// comment adds lines to the head comment of n. A line may carry text from
// the hooks file (a key, an id, a file name): what is not printable in it is
// escaped.
func comment(n *yaml.Node, lines ...string) {
	for _, l := range lines {
		if n.HeadComment != "" {
			n.HeadComment += "\n"
		}
		n.HeadComment += "# " + yamlcomment.Line(l)
	}
}

// escapeEnv rewrites every ${ in the scalar values under n as $${, so
// that config's ${ENV} expansion (of values, not keys) gives back exactly
// what the hooks file said: webhook expands nothing.
func escapeEnv(n *yaml.Node) {
	switch n.Kind {
	case yaml.ScalarNode:
		n.Value = strings.ReplaceAll(n.Value, "${", "$${")
	case yaml.MappingNode:
		for i := 1; i < len(n.Content); i += 2 {
			escapeEnv(n.Content[i])
		}
	default:
		for _, c := range n.Content {
			escapeEnv(c)
		}
	}
}

// deepCopy copies a node tree.
func deepCopy(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = nil
	for _, k := range n.Content {
		c.Content = append(c.Content, deepCopy(k))
	}
	return &c
}
