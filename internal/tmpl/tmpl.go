// Package tmpl compiles the text templates of a configuration (Go's
// text/template with postbox's functions) into postbox.Template values.
package tmpl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/payload"
)

// Template is a Go text/template compiled from configuration. Its data is a
// *postbox.TemplateData.
type Template struct {
	src string
	t   *template.Template
	// constant is set when the template is plain text (no actions, as
	// in `body: SUCCESS`): Execute returns it without running anything.
	constant *string
}

var _ postbox.Template = (*Template)(nil)

// Parse compiles src. name is used in error messages.
func Parse(name, src string) (*Template, error) {
	return ParseWith(name, src, nil, nil)
}

// ParseWith is Parse with more functions, and a step that
// may rewrite the parsed template before it is ever run (nil: none). The
// http action uses it to escape every value it puts into a URL.
func ParseWith(name, src string, funcs template.FuncMap, rewrite func(*template.Template) error) (*Template, error) {
	t, err := template.New(name).Funcs(templateFuncs).Funcs(funcs).Option("missingkey=zero").Parse(src)
	if err != nil {
		return nil, err
	}
	if rewrite != nil {
		if err := rewrite(t); err != nil {
			return nil, err
		}
	}
	tpl := &Template{src: src, t: t}
	if c, ok := constantText(t); ok {
		c = strings.ReplaceAll(c, "<no value>", "") // as Execute does
		tpl.constant = &c
	}
	return tpl, nil
}

// constantText returns the text of a template made of text alone.
func constantText(t *template.Template) (string, bool) {
	if len(t.Templates()) > 1 || t.Tree == nil || t.Tree.Root == nil {
		return "", t.Tree != nil && t.Tree.Root == nil && len(t.Templates()) <= 1
	}
	var b strings.Builder
	for _, n := range t.Tree.Root.Nodes {
		tn, ok := n.(*parse.TextNode)
		if !ok {
			return "", false
		}
		b.Write(tn.Text)
	}
	return b.String(), true
}

// String returns the template's source.
func (t *Template) String() string { return t.src }

// Execute renders the template over data.
func (t *Template) Execute(data *postbox.TemplateData) (string, error) {
	if t.constant != nil {
		return *t.constant, nil
	}
	var b strings.Builder
	if err := t.t.Execute(&b, data); err != nil {
		return "", err
	}
	// A missing payload field is empty, not text/template's "<no value>"
	// (the same choice Helm makes).
	return strings.ReplaceAll(b.String(), "<no value>", ""), nil
}

var templateFuncs = template.FuncMap{
	// json renders a value as compact JSON: {{ json .Payload.items }}.
	"json": func(v any) (string, error) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			return "", err
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	},
	// default returns def when v is empty: {{ default "off" .Payload.state }}.
	"default": func(def, v any) any {
		if v == nil || v == "" {
			return def
		}
		return v
	},
	// fromjson decodes a string that holds JSON (a form field carrying a
	// JSON document): {{ (fromjson .Payload.payload).user.name }}. A value
	// that is not a string gives nil.
	"fromjson": func(v any) (any, error) {
		s, ok := v.(string)
		if !ok {
			return nil, nil
		}
		return payload.ParseJSON([]byte(s))
	},
	// param is the value at a dotted path as adnanh/webhook passes it to
	// a command: {{ param .Payload "head_commit.id" }}. A key holding the
	// dots is looked up first, a numeric part indexes a list; an absent
	// value is "" (not an error), an object or a list is JSON, anything
	// else its text (null: "<nil>"); a list at the top is webhook's {"root": [...]}.
	// postbox webhook's arguments use it.
	"param":     param,
	"lower":     strings.ToLower,
	"upper":     strings.ToUpper,
	"trim":      strings.TrimSpace,
	"urlquery":  url.QueryEscape,
	"hasPrefix": strings.HasPrefix,
}

func param(v any, path string) (string, error) {
	if list, ok := v.([]any); ok {
		// webhook's payload of a JSON array body.
		v = map[string]any{"root": list}
	}
	if path != "" {
		var ok bool
		if v, ok = lookupParam(v, path); !ok {
			return "", nil
		}
	}
	switch v.(type) {
	case map[string]any, []any, []string:
		b, err := json.Marshal(v)
		return string(b), err
	}
	// A JSON null is "<nil>", as webhook prints it.
	return fmt.Sprint(v), nil
}

// lookupParam finds path in v as webhook's ExtractParameter does: the
// whole key first, then the part before the first dot and the rest in
// what it holds.
func lookupParam(v any, path string) (any, bool) {
	for depth := 0; depth < 512; depth++ {
		switch c := v.(type) {
		case map[string]any:
			if x, ok := c[path]; ok {
				return x, true
			}
			head, rest, found := strings.Cut(path, ".")
			x, ok := c[head]
			if !found || !ok {
				return nil, false
			}
			v, path = x, rest
		case []any:
			head, rest, found := strings.Cut(path, ".")
			i, err := strconv.Atoi(head)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			if !found {
				return c[i], true
			}
			v, path = c[i], rest
		default:
			return nil, false
		}
	}
	return nil, false
}

// Name returns the name the template was parsed with.
func (t *Template) Name() string { return t.t.Name() }

// UsesPayload reports whether the template may read .Payload, so that a
// request whose templates never do is not parsed for them. It errs on the
// side of yes: the whole data passed on (`.` or `$`) counts.
func (t *Template) UsesPayload() bool {
	for _, tt := range t.t.Templates() {
		if tt.Tree != nil && usesPayload(tt.Tree.Root) {
			return true
		}
	}
	return false
}

func usesPayload(n parse.Node) bool {
	switch n := n.(type) {
	case nil:
		return false
	case *parse.ListNode:
		if n == nil {
			return false
		}
		for _, c := range n.Nodes {
			if usesPayload(c) {
				return true
			}
		}
	case *parse.ActionNode:
		return usesPayload(n.Pipe)
	case *parse.PipeNode:
		if n == nil {
			return false
		}
		for _, c := range n.Cmds {
			if usesPayload(c) {
				return true
			}
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			if usesPayload(a) {
				return true
			}
		}
	case *parse.IfNode:
		return usesPayload(n.Pipe) || usesPayload(n.List) || usesPayload(n.ElseList)
	case *parse.RangeNode:
		return usesPayload(n.Pipe) || usesPayload(n.List) || usesPayload(n.ElseList)
	case *parse.WithNode:
		return usesPayload(n.Pipe) || usesPayload(n.List) || usesPayload(n.ElseList)
	case *parse.TemplateNode:
		return true // the named template sees whatever is passed; assume the worst
	case *parse.ChainNode:
		return usesPayload(n.Node) || slices.Contains(n.Field, "Payload")
	case *parse.FieldNode:
		return n.Ident[0] == "Payload"
	case *parse.VariableNode:
		return n.Ident[0] == "$" && (len(n.Ident) == 1 || n.Ident[1] == "Payload")
	case *parse.DotNode:
		return true
	}
	return false
}
