package config

import (
	"fmt"
	"github.com/postbox/postbox/internal/spell"
	"reflect"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

var nodeType = reflect.TypeOf(yaml.Node{})

// checkKnown reports every mapping key in n that the struct out points to
// has no yaml field for, recursively, with a hint at the nearest known key.
// Every struct decoded from a mapping is checked, including those with an
// UnmarshalYAML method: their mapping form must be their yaml fields.
func (l *loader) checkKnown(n *yaml.Node, field string, out any) {
	l.checkType(n, field, reflect.TypeOf(out))
}

func (l *loader) checkType(n *yaml.Node, field string, t reflect.Type) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if t == nodeType {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // the decoder reports the type mismatch
		}
		// A struct with its own UnmarshalYAML is checked all the same:
		// such a method adds a shorthand (admin: 127.0.0.1:8081) and
		// decodes the mapping form into the plain fields, which yaml.v3
		// does without refusing unknown keys. Skipping it once let
		// admin: {tokn: ...} serve the console without a token.
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			ft, ok := fields[k.Value]
			if !ok {
				l.addf(k, joinField(field, k.Value), "unknown key%s", suggest(k.Value, fields))
				continue
			}
			l.checkType(v, joinField(field, k.Value), ft)
		}
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, c := range n.Content {
			l.checkType(c, fmt.Sprintf("%s[%d]", field, i), t.Elem())
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			l.checkType(n.Content[i+1], joinField(field, n.Content[i].Value), t.Elem())
		}
	}
}

// yamlFields maps each yaml key of struct t (inline fields included) to
// its type.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if strings.Contains(opts, "inline") {
			for k, v := range yamlFields(f.Type) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// suggest returns ` (did you mean "x"?)` for a near miss, or the list of
// known keys.
func suggest(key string, fields map[string]reflect.Type) string {
	var names []string
	for k := range fields {
		names = append(names, k)
	}
	// In order, so that a tie (tokne: token or tokens) always gives the
	// same hint, the first.
	sort.Strings(names)
	if best := spell.Nearest(key, names, 3); best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return " (known keys: " + strings.Join(names, ", ") + ")"
}
