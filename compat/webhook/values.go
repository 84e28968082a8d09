package webhook

import (
	"fmt"
	"net/textproto"
	"strconv"
	"strings"
)

// This file turns webhook's references to request values ({source, name})
// into postbox templates (for arguments and environment variables) and
// into rule expressions (for trigger rules).

// Webhook's value sources.
const (
	srcHeader       = "header"
	srcURL          = "url"
	srcQuery        = "query" // an alias of url
	srcPayload      = "payload"
	srcRawBody      = "raw-request-body"
	srcRequest      = "request"
	srcString       = "string"
	srcEntirePay    = "entire-payload"
	srcEntireQuery  = "entire-query"
	srcEntireHeader = "entire-headers"
	srcTemplate     = "template"
)

// templateVar is a var a template needs (request method, remote address),
// which postbox templates reach only through vars:.
type templateVar struct{ name, expr string }

// valueTemplate returns the template that renders a as webhook passes it
// to a command: the value as text, "" when it is absent. A non-empty
// problem says why a cannot be converted.
func valueTemplate(a argument) (tmpl string, v *templateVar, problem string) {
	switch a.Source {
	case srcHeader:
		return fmt.Sprintf("{{ .Header.Get %s }}", strconv.Quote(textproto.CanonicalMIMEHeaderKey(a.Name))), nil, ""
	case srcURL, srcQuery:
		return fmt.Sprintf("{{ .Query.Get %s }}", strconv.Quote(a.Name)), nil, ""
	case srcPayload:
		return payloadTemplate(a.Name), nil, ""
	case srcString:
		return literalTemplate(a.Name), nil, ""
	case srcRawBody:
		return "{{ .Body }}", nil, ""
	case srcEntirePay:
		return "{{ json .Payload }}", nil, ""
	case srcEntireQuery:
		return "{{ json .Query }}", nil, ""
	case srcEntireHeader:
		return "{{ json .Header }}", nil, ""
	case srcRequest:
		switch strings.ToLower(a.Name) {
		case "method":
			return "{{ .Vars.request_method }}", &templateVar{"request_method", "method"}, ""
		case "remote-addr":
			return "{{ .Vars.remote_addr }}", &templateVar{"remote_addr", "remote_addr"}, ""
		}
		return "", nil, fmt.Sprintf("source request has no value %q (webhook knows method and remote-addr)", a.Name)
	case srcTemplate:
		return "", nil, "source template is not converted: its template sees webhook's fields (.GetHeader, .BodyText, ...); rewrite it with postbox's (.Header.Get, .Body, .Payload, .Query)"
	case "":
		return "", nil, "has no source"
	}
	return "", nil, fmt.Sprintf("source %q is not one webhook documents (header, url, payload, string, request, raw-request-body, entire-payload, entire-query, entire-headers)", a.Source)
}

// payloadTemplate renders webhook's dotted payload reference: a.b is
// {{ .Payload.a.b }}; a numeric part is a list index and a part that is
// not a template identifier a map key, both through index:
// commits.0.id is {{ index .Payload.commits 0 "id" }}.
func payloadTemplate(name string) string {
	parts := strings.Split(name, ".")
	if parts[0] == arrayRoot {
		// postbox's payload is the array itself.
		parts = parts[1:]
	}
	return pathTemplate(".Payload", parts)
}

// pathTemplate renders the value at parts (a dotted reference, split)
// under head: fields that are template identifiers as .a.b, the rest
// through index.
func pathTemplate(head string, parts []string) string {
	i := 0
	for ; i < len(parts) && isIdent(parts[i]); i++ {
		head += "." + parts[i]
	}
	if i == len(parts) {
		return "{{ " + head + " }}"
	}
	args := []string{"index", head}
	for _, p := range parts[i:] {
		if isIndex(p) {
			args = append(args, p)
		} else {
			args = append(args, strconv.Quote(p))
		}
	}
	return "{{ " + strings.Join(args, " ") + " }}"
}

// arrayRoot is the name webhook gives a body that is a JSON array: its
// payload is {"root": [...]}, where postbox's is the array.
const arrayRoot = "root"

// literalTemplate is a template that renders s as it is.
func literalTemplate(s string) string {
	if !strings.Contains(s, "{{") {
		return s
	}
	return "{{ " + strconv.Quote(s) + " }}"
}

// isIdent reports whether s can follow a dot in a template and in a rule
// expression: ASCII letters, digits and _, not starting with a digit.
func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// isIndex reports whether s is a list index (webhook reads a part of
// digits as one when the value there is a list).
func isIndex(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// celReserved are words CEL keeps for itself; a field of that name is
// written payload["in"].
var celReserved = map[string]bool{
	"in": true, "true": true, "false": true, "null": true, "as": true, "break": true, "const": true,
	"continue": true, "else": true, "for": true, "function": true, "if": true, "import": true,
	"let": true, "loop": true, "package": true, "namespace": true, "return": true, "var": true,
	"void": true, "while": true,
}

// operand is a request value as a rule expression.
type operand struct {
	expr string
	// guard is true when the value is present ("" when it always is);
	// a negated match needs it, since an absent value makes the whole
	// expression an error where webhook's match is just false.
	guard string
	// text is true when the value is always a string (headers, query).
	text bool
	// constant, when set, is the value of a string source.
	constant *string
}

// valueOperand returns the rule expression of a's value.
func valueOperand(a argument) (operand, string) {
	switch a.Source {
	case srcHeader:
		k := strconv.Quote(textproto.CanonicalMIMEHeaderKey(a.Name))
		return operand{expr: "header[" + k + "]", guard: k + " in header", text: true}, ""
	case srcURL, srcQuery:
		k := strconv.Quote(a.Name)
		return operand{expr: "query[" + k + "]", guard: k + " in query", text: true}, ""
	case srcPayload:
		expr, guard := payloadPath(a.Name)
		return operand{expr: expr, guard: guard}, ""
	case srcString:
		s := a.Name
		return operand{constant: &s}, ""
	case srcRawBody:
		return operand{expr: "body", text: true}, ""
	case srcRequest:
		switch strings.ToLower(a.Name) {
		case "method":
			return operand{expr: "method", text: true}, ""
		case "remote-addr":
			return operand{expr: "remote", text: true}, ""
		}
		return operand{}, fmt.Sprintf("source request has no value %q (webhook knows method and remote-addr)", a.Name)
	case srcEntirePay, srcEntireQuery, srcEntireHeader:
		return operand{}, fmt.Sprintf("source %s cannot be matched in a condition (postbox conditions have no JSON encoding); match the fields you need instead", a.Source)
	}
	_, _, problem := valueTemplate(a)
	return operand{}, problem
}

// payloadPath returns the rule expression of webhook's dotted payload
// reference (commits.0.id is payload.commits[0].id) and the guard that
// the value is there: has() for fields, size() for list indexes, in for
// keys that are not names.
func payloadPath(name string) (expr, guard string) {
	parts := strings.Split(name, ".")
	if parts[0] == arrayRoot {
		// postbox's payload is the array itself.
		parts = parts[1:]
	}
	return walkPath("payload", nil, parts)
}

// walkPath extends expr by parts, adding to guards the tests that each
// step is there.
func walkPath(expr string, guards []string, parts []string) (string, string) {
	for _, p := range parts {
		switch {
		case isIndex(p):
			guards = append(guards, fmt.Sprintf("size(%s) > %s", expr, p))
			expr += "[" + p + "]"
		case isIdent(p) && !celReserved[p]:
			guards = append(guards, fmt.Sprintf("has(%s.%s)", expr, p))
			expr += "." + p
		default:
			guards = append(guards, fmt.Sprintf("%s in %s", strconv.Quote(p), expr))
			expr += "[" + strconv.Quote(p) + "]"
		}
	}
	return expr, strings.Join(guards, " && ")
}

// jsonParams are a hook's parse-parameters-as-json: values holding a JSON
// document that webhook decodes before rules and commands see them. A
// reference under one of them reads the decoded document through
// fromjson (templates) or fromJSON (conditions).
type jsonParams []argument

// find returns the parameter a reference is under (the longest), and the
// path below it.
func (j jsonParams) find(a argument) (base argument, rest []string, ok bool) {
	for _, p := range j {
		if p.Source != a.Source && !(isURL(p.Source) && isURL(a.Source)) {
			continue
		}
		name := p.Name
		if a.Source == srcHeader {
			if !strings.EqualFold(a.Name, name) && !strings.HasPrefix(strings.ToLower(a.Name), strings.ToLower(name)+".") {
				continue
			}
		} else if a.Name != name && !strings.HasPrefix(a.Name, name+".") {
			continue
		}
		if ok && len(p.Name) <= len(base.Name) {
			continue
		}
		base, ok = argument{Source: a.Source, Name: a.Name[:len(name)]}, true
		rest = nil
		if len(a.Name) > len(name) {
			rest = strings.Split(a.Name[len(name)+1:], ".")
		}
	}
	return base, rest, ok
}

func isURL(source string) bool { return source == srcURL || source == srcQuery }

// template is valueTemplate, through the decoded documents.
func (j jsonParams) template(a argument) (string, *templateVar, string) {
	base, rest, ok := j.find(a)
	if !ok || len(rest) == 0 {
		// The value itself is passed as the JSON text it is.
		return valueTemplate(a)
	}
	t, v, problem := valueTemplate(base)
	if problem != "" {
		return t, v, problem
	}
	return pathTemplate("(fromjson "+pipeline(t)+")", rest), v, ""
}

// operand is valueOperand, through the decoded documents.
func (j jsonParams) operand(a argument) (operand, string) {
	base, rest, ok := j.find(a)
	if !ok || len(rest) == 0 {
		return valueOperand(a)
	}
	op, problem := valueOperand(base)
	if problem != "" || op.constant != nil {
		return op, problem
	}
	var guards []string
	if op.guard != "" {
		guards = append(guards, op.guard)
	}
	expr, guard := walkPath("fromJSON("+op.expr+")", guards, rest)
	return operand{expr: expr, guard: guard}, ""
}

// celString quotes s for a rule expression; a regular expression with
// backslashes reads better raw.
func celString(s string, raw bool) string {
	if raw && strings.Contains(s, `\`) && !strings.ContainsAny(s, "\"\n\r") {
		return `r"` + s + `"`
	}
	return strconv.Quote(s)
}
