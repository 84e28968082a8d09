package httpcall

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/tmpl"
)

// origin is the part of a URL that decides where a call goes and with
// which credentials: scheme, userinfo, host and port. It must be written
// in the configuration: a delivery can choose the path, query and fragment
// of a call, never its origin.
type origin struct {
	scheme string // lower case
	user   string // the userinfo as url.Userinfo.String writes it; "" for none
	host   string // host[:port] as in url.URL.Host, lower case
}

// errOrigin reports a template action before the end of a URL's authority.
var errOrigin = errors.New("takes its scheme, user, host or port from a template: a delivery may not choose where a call goes; " +
	"write http(s)://host[:port] and then /, ? or # before the first {{")

// literalOrigin returns the origin of src, a URL template, from the text
// before its first template action. That text must hold the whole
// authority and the character that ends it; a URL without a template action
// is parsed as a whole.
func literalOrigin(src string) (origin, error) {
	lit, templated := src, false
	if i := strings.Index(src, "{{"); i >= 0 {
		lit, templated = src[:i], true
	}
	lower := strings.ToLower(lit)
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		if templated && (strings.HasPrefix("http://", lower) || strings.HasPrefix("https://", lower)) {
			return origin{}, errOrigin // the scheme itself is cut by a template
		}
		return origin{}, errors.New("must begin with http:// or https://")
	}
	if !templated {
		return originOf(src)
	}
	_, rest, _ := strings.Cut(lit, "://")
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		return origin{}, errOrigin
	}
	return originOf(lit[:len(lit)-len(rest)+end] + "/")
}

// originOf parses s, an http:// or https:// URL with a host, and returns
// its origin.
func originOf(s string) (origin, error) {
	u, err := url.Parse(s)
	if err != nil {
		return origin{}, fmt.Errorf("is not a valid URL: %v", unwrapURLErr(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return origin{}, errors.New("is not an http:// or https:// URL")
	}
	if u.Hostname() == "" {
		return origin{}, errors.New("has no host")
	}
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Host)}
	if u.User != nil {
		o.user = u.User.String()
	}
	return o, nil
}

// check parses rendered, the URL a call is about to be made to, and
// fails unless it goes where the configuration says. New already refuses a
// template that could choose the origin; this is the last word, at the
// point of use. The message names
// hosts only: the path and the userinfo may hold keys.
func (o origin) check(rendered string) error {
	got, err := originOf(rendered)
	if err != nil {
		return fmt.Errorf("rendered, it %w", err)
	}
	switch {
	case got.scheme != o.scheme:
		return fmt.Errorf("renders with scheme %s, not the configured %s: a delivery may not choose it", got.scheme, o.scheme)
	case got.user != o.user:
		return errors.New("renders with other user information than configured: a delivery may not choose it")
	case got.host != o.host:
		return fmt.Errorf("renders with host %q, not the configured %q: a delivery may not choose it", got.host, o.host)
	}
	return nil
}

// The functions of URL templates. Every value a URL template writes is
// escaped for the part of the URL it lands in, unless its pipeline ends in
// raw (the value is used as it is, for a path of several segments) or
// urlquery (escaped by the template already).
const (
	escapePath  = "_postbox_escape_path"
	escapeQuery = "_postbox_escape_query"
)

var urlFuncs = template.FuncMap{
	"raw":       func(v any) any { return v },
	escapePath:  func(v any) string { return url.PathEscape(text(v)) },
	escapeQuery: func(v any) string { return url.QueryEscape(text(v)) },
}

// text is v as text/template prints it, with nothing for a missing value.
func text(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

// parseURLTemplate compiles src, a URL template whose every value is
// escaped.
func parseURLTemplate(src string) (postbox.Template, error) {
	return tmpl.ParseWith("url", src, urlFuncs, escapeURLValues)
}

// urlPart is where in a URL a template action writes. Later parts escape
// at least as much as earlier ones, so that where branches of an if end in
// different parts, what follows is escaped for the later one.
type urlPart int

const (
	inPath urlPart = iota
	inQuery
	inFragment
)

// escapeURLValues adds the escaper of its part of the URL to each action
// of t that writes a value.
func escapeURLValues(t *template.Template) error {
	if len(t.Templates()) > 1 {
		return errors.New("may not define templates ({{ define }}, {{ block }})")
	}
	if t.Tree == nil {
		return nil
	}
	_, err := escapeList(t.Tree.Root, inPath)
	return err
}

func escapeList(l *parse.ListNode, p urlPart) (urlPart, error) {
	if l == nil {
		return p, nil
	}
	var err error
	for _, n := range l.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			p = advance(p, n.Text)
		case *parse.ActionNode:
			if len(n.Pipe.Decl) == 0 { // {{ $x := ... }} writes nothing
				setEscaper(n.Pipe, p)
			}
		case *parse.IfNode:
			p, err = escapeBranch(&n.BranchNode, p, false)
		case *parse.WithNode:
			p, err = escapeBranch(&n.BranchNode, p, false)
		case *parse.RangeNode:
			p, err = escapeBranch(&n.BranchNode, p, true)
		case *parse.TemplateNode:
			err = errors.New("may not call templates ({{ template }})")
		}
		if err != nil {
			return p, err
		}
	}
	return p, nil
}

// escapeBranch escapes the lists of an if, with or range that starts in
// part p, and returns the part after it. A range's body may follow itself:
// it is escaped again from the later part until that no longer changes.
func escapeBranch(b *parse.BranchNode, p urlPart, loops bool) (urlPart, error) {
	start := p
	for {
		end, err := escapeList(b.List, start)
		if err != nil {
			return p, err
		}
		if !loops || end == start {
			start = end
			break
		}
		start = max(start, end)
	}
	elseEnd, err := escapeList(b.ElseList, p)
	if err != nil {
		return p, err
	}
	return max(start, elseEnd), nil
}

// advance returns the part of the URL after text written in part p.
func advance(p urlPart, text []byte) urlPart {
	for _, c := range text {
		switch {
		case c == '?' && p == inPath:
			p = inQuery
		case c == '#':
			p = inFragment
		}
	}
	return p
}

// setEscaper makes pipe end in the escaper of part p, unless it ends in
// raw or urlquery.
func setEscaper(pipe *parse.PipeNode, p urlPart) {
	name := escapePath
	if p != inPath {
		name = escapeQuery
	}
	if len(pipe.Cmds) > 0 {
		last := pipe.Cmds[len(pipe.Cmds)-1]
		if id, ok := last.Args[0].(*parse.IdentifierNode); ok {
			switch id.Ident {
			case "raw", "urlquery":
				return
			case escapePath, escapeQuery: // escaped again from a later part
				pipe.Cmds = pipe.Cmds[:len(pipe.Cmds)-1]
			}
		}
	}
	pipe.Cmds = append(pipe.Cmds, &parse.CommandNode{
		NodeType: parse.NodeCommand,
		Pos:      pipe.Pos,
		Args:     []parse.Node{parse.NewIdentifier(name).SetTree(nil).SetPos(pipe.Pos)},
	})
}
