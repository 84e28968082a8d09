// Package webhook reads the hook definitions of adnanh/webhook (hooks.json
// or hooks.yaml) and converts them to postbox's YAML configuration, so that
// its users can move over without rewriting their hooks: `postbox import`
// prints the result, `postbox serve --hooks` serves it directly.
//
// Whatever cannot be converted is reported as a Problem naming the hook and
// the key; nothing is dropped silently. The generated YAML says in comments
// what was not converted, and an unconvertible part of a trigger rule
// becomes a condition that fails closed.
package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// hookDef is one hook of a hooks file, as webhook defines it.
type hookDef struct {
	ID                          string      `yaml:"id"`
	ExecuteCommand              string      `yaml:"execute-command"`
	CommandWorkingDirectory     string      `yaml:"command-working-directory"`
	ResponseMessage             string      `yaml:"response-message"`
	ResponseHeaders             []headerDef `yaml:"response-headers"`
	CaptureCommandOutput        bool        `yaml:"include-command-output-in-response"`
	CaptureCommandOutputOnError bool        `yaml:"include-command-output-in-response-on-error"`
	PassEnvironmentToCommand    []argument  `yaml:"pass-environment-to-command"`
	PassArgumentsToCommand      []argument  `yaml:"pass-arguments-to-command"`
	PassFileToCommand           []argument  `yaml:"pass-file-to-command"`
	JSONStringParameters        []argument  `yaml:"parse-parameters-as-json"`
	TriggerRule                 *rules      `yaml:"trigger-rule"`
	MismatchCode                int         `yaml:"trigger-rule-mismatch-http-response-code"`
	SignatureSoftFailures       bool        `yaml:"trigger-signature-soft-failures"`
	IncomingPayloadContentType  string      `yaml:"incoming-payload-content-type"`
	SuccessCode                 int         `yaml:"success-http-response-code"`
	HTTPMethods                 []string    `yaml:"http-methods"`

	node *yaml.Node // the hook's mapping, for lines
}

// knownHookKeys are the keys of hookDef; any other key is reported.
var knownHookKeys = yamlKeys(hookDef{})

type headerDef struct {
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
}

// argument is webhook's reference to a request value: a parameter of a
// match rule, a command argument, an environment variable or a file.
type argument struct {
	Source       string   `yaml:"source"`
	Name         string   `yaml:"name"`
	EnvName      string   `yaml:"envname"`
	Base64Decode bool     `yaml:"base64decode"`
	SigHeaders   []string `yaml:"headers-to-add-to-signature-payload"`

	line    int
	unknown []string // keys webhook does not know either
}

// UnmarshalYAML keeps the line and the unknown keys.
func (a *argument) UnmarshalYAML(n *yaml.Node) error {
	type plain argument
	if err := n.Decode((*plain)(a)); err != nil {
		return err
	}
	a.line, a.unknown = n.Line, unknownKeys(n, knownArgumentKeys)
	return nil
}

var knownArgumentKeys = yamlKeys(argument{})

// rules is a trigger rule: exactly one of and, or, not and match.
type rules struct {
	And   []rules    `yaml:"and"`
	Or    []rules    `yaml:"or"`
	Not   *rules     `yaml:"not"`
	Match *matchRule `yaml:"match"`

	line    int
	keys    []string // the rule keys present, in order
	unknown []string
}

// UnmarshalYAML keeps the line and which keys were present.
func (r *rules) UnmarshalYAML(n *yaml.Node) error {
	type plain rules
	if err := n.Decode((*plain)(r)); err != nil {
		return err
	}
	r.line, r.unknown = n.Line, unknownKeys(n, knownRuleKeys)
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if knownRuleKeys[n.Content[i].Value] {
				r.keys = append(r.keys, n.Content[i].Value)
			}
		}
	}
	return nil
}

var knownRuleKeys = yamlKeys(rules{})

type matchRule struct {
	Type      string   `yaml:"type"`
	Regex     string   `yaml:"regex"`
	Secret    string   `yaml:"secret"`
	Value     string   `yaml:"value"`
	Parameter argument `yaml:"parameter"`
	IPRange   string   `yaml:"ip-range"`

	line    int
	unknown []string
}

// UnmarshalYAML keeps the line and the unknown keys.
func (m *matchRule) UnmarshalYAML(n *yaml.Node) error {
	type plain matchRule
	if err := n.Decode((*plain)(m)); err != nil {
		return err
	}
	m.line, m.unknown = n.Line, unknownKeys(n, knownMatchKeys)
	return nil
}

var knownMatchKeys = yamlKeys(matchRule{})

// parseHooks reads a hooks file: a JSON or YAML list of hooks. The error
// is for a file that is not such a list at all; problems with single
// hooks are returned as Problems.
func parseHooks(name string, data []byte) ([]*hookDef, []Problem, error) {
	root, err := parseDocument(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s%s", name, strings.TrimPrefix(err.Error(), "yaml: "), templateHint(data))
	}
	if root == nil {
		return nil, nil, fmt.Errorf("%s: the file is empty", name)
	}
	if root.Kind != yaml.SequenceNode {
		return nil, nil, fmt.Errorf("%s:%d: a hooks file is a list of hooks ([{\"id\": ...}, ...])", name, root.Line)
	}
	var hooks []*hookDef
	var problems []Problem
	for i, n := range root.Content {
		n = resolve(n)
		if n.Kind != yaml.MappingNode {
			problems = append(problems, Problem{Line: n.Line, Hook: fmt.Sprintf("#%d", i+1), Msg: "is not a mapping of keys (id, execute-command, ...); skipped"})
			continue
		}
		h := &hookDef{node: n}
		if err := n.Decode(h); err != nil {
			id := fmt.Sprintf("#%d", i+1)
			if v := valueOf(n, "id"); v != nil {
				id = v.Value
			}
			problems = append(problems, Problem{Line: n.Line, Hook: id, Msg: "cannot be read: " + cleanYAMLError(err) + templateHint(data) + "; skipped"})
			continue
		}
		hooks = append(hooks, h)
	}
	return hooks, problems, nil
}

// templateHint explains a file that fails to read because it is written
// for webhook's -template flag.
func templateHint(data []byte) string {
	if !bytes.Contains(data, []byte("{{")) {
		return ""
	}
	return " (a hooks file written for webhook's -template flag must be rendered first: this converter reads plain JSON or YAML)"
}

// parseDocument parses data as YAML, which JSON nearly is. Tabs, which
// YAML does not allow for indentation, are replaced in a JSON file (where
// they can only be whitespace); a JSON file YAML still refuses (duplicate
// keys, surrogate pairs) is read with encoding/json, without lines.
func parseDocument(data []byte) (*yaml.Node, error) {
	text := bytes.TrimSpace(data)
	isJSON := len(text) > 0 && (text[0] == '[' || text[0] == '{')
	src := data
	if isJSON {
		src = bytes.ReplaceAll(data, []byte("\t"), []byte(" "))
	}
	var doc yaml.Node
	err := yaml.Unmarshal(src, &doc)
	if err == nil && isJSON {
		// Decoding finds what parsing lets through: keys given twice.
		var v any
		err = doc.Decode(&v)
	}
	if err != nil && isJSON && json.Valid(data) {
		var v any
		if jerr := json.Unmarshal(data, &v); jerr == nil {
			doc = yaml.Node{}
			if err = doc.Encode(v); err == nil {
				return &doc, nil
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return resolve(doc.Content[0]), nil
}

// resolve follows an alias to what it names.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

// valueOf returns the value of key in mapping n, or nil.
func valueOf(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return resolve(n.Content[i+1])
		}
	}
	return nil
}

// keyLine is the line of key in mapping n, or of n when key is absent.
func keyLine(n *yaml.Node, key string) int {
	if n == nil {
		return 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i].Line
		}
	}
	return n.Line
}

// unknownKeys lists the keys of mapping n that known lacks.
func unknownKeys(n *yaml.Node, known map[string]bool) []string {
	var out []string
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i].Value; !known[k] {
			out = append(out, k)
		}
	}
	return out
}

// yamlKeys returns the yaml keys of the exported fields of struct v.
func yamlKeys(v any) map[string]bool {
	out := map[string]bool{}
	var n yaml.Node
	_ = n.Encode(v)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out[n.Content[i].Value] = true
	}
	return out
}

// cleanYAMLError shortens yaml.v3's decoding errors for a user.
func cleanYAMLError(err error) string {
	s := strings.TrimPrefix(err.Error(), "yaml: ")
	s = strings.TrimPrefix(s, "unmarshal errors:\n")
	s = strings.ReplaceAll(s, "\n", "; ")
	return strings.Join(strings.Fields(s), " ")
}
