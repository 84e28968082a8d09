package webhook

import (
	"fmt"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// idPattern is what postbox allows as a hook id.
var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// pathSafe is what a webhook id may hold and still be served by postbox at
// the same URL, /hooks/{id}: characters a ServeMux pattern takes as they are.
var pathSafe = regexp.MustCompile(`^[A-Za-z0-9_.~!$&'()*+,;=:@-]+$`)

// defaultMethods stand for webhook's "any method" when a hook has no
// http-methods (HEAD comes with GET).
var defaultMethods = []string{"POST", "GET", "PUT", "PATCH", "DELETE", "OPTIONS"}

var methodPattern = regexp.MustCompile(`^[A-Z]+$`)

// Webhook's fixed answers, which the converted hooks give too.
const (
	notSatisfied = "Hook rules were not satisfied."
	commandError = "Error occurred while executing the hook's command. Please check your logs for more details."
)

// hook converts one webhook hook into a postbox hook and, when its rule
// can be unmet, a second hook on the same path that answers as webhook
// does then.
func (c *converter) hook(h *hookDef) []*yaml.Node {
	n := h.node
	label := h.ID
	if label == "" {
		label = fmt.Sprintf("#line %d", n.Line)
	}
	first := len(c.problems)
	report := func(line int, key, msg string) { c.report(line, label, key, msg) }
	if h.ID == "" {
		report(n.Line, "id", "is missing; the hook is skipped (webhook cannot serve it either)")
		return nil
	}
	if line, dup := c.seen[h.ID]; dup {
		report(keyLine(n, "id"), "id", fmt.Sprintf("is already used on line %d; the hook is skipped (webhook refuses the whole file)", line))
		return nil
	}
	c.seen[h.ID] = keyLine(n, "id")
	id, path := h.ID, c.opts.prefix()+h.ID
	explicitPath := c.opts.prefix() != "/hooks/"
	if !idPattern.MatchString(id) {
		if !servable(h.ID) {
			report(keyLine(n, "id"), "id", "cannot be served at "+path+" by postbox (a path pattern cannot hold it); the hook is skipped: choose an id of letters, digits, _ . - and /")
			return nil
		}
		id, explicitPath = c.newID(sanitize(h.ID)), true
	} else {
		c.ids[id] = true
	}

	out := mapping("id", str(id))
	comment(out, fmt.Sprintf("webhook hook %q", h.ID))
	if explicitPath {
		set(out, "path", str(path))
	}
	methods := c.methods(h, report)
	set(out, "methods", flow(strings2seq(methods)))
	if len(h.HTTPMethods) == 0 && len(c.opts.Methods) == 0 {
		get(out, "methods").LineComment = "# webhook took any method"
	}

	rr := convertRule(h, report)
	auth := mapping()
	if rr.sigs != nil {
		set(auth, "webhook_hmac", sigNode(rr.sigs))
	}
	if rr.ip != nil {
		set(auth, "ip", flow(mapping("allow", flow(strings2seq(rr.ip)))))
	}
	if len(auth.Content) > 0 {
		set(out, "auth", auth)
	}

	action, vars := c.action(h, report)
	if len(vars.Content) > 0 {
		set(out, "vars", vars)
	}
	fallback := rr.when != "" || rr.ip != nil
	if rr.sigs != nil && !fallback {
		// The hook answering unsigned requests follows on the path.
		set(out, "when", str("true"))
		get(out, "when").LineComment = "# lets the next hook answer unsigned requests, as webhook did"
	}
	if fallback {
		when := rr.when
		if when == "" {
			// A condition that always holds lets the next hook answer
			// requests from other addresses, as webhook did.
			when = "true"
		}
		set(out, "when", str(when))
		if rr.when == "" {
			get(out, "when").LineComment = "# lets the next hook answer other addresses, as webhook did"
		}
	}
	if h.CaptureCommandOutput {
		set(out, "mode", str("sync"))
		if c.opts.CommandTimeout > 0 {
			set(out, "timeout", str(c.opts.CommandTimeout.String()))
		}
	}
	if action != nil {
		set(out, "actions", sequence(mapping("exec", action)))
	} else {
		report(n.Line, "execute-command", "is missing; the hook has no action (webhook could not run it either)")
	}
	set(out, "response", c.response(h, report))
	c.checkHook(h, report)

	hooks := []*yaml.Node{out}
	if fallback || rr.sigs != nil {
		code := c.mismatchCode(h, report)
		if fallback {
			hooks = append(hooks, c.unmatched(id, path, methods, rr, code))
		}
		if rr.sigs != nil {
			hooks = append(hooks, c.unsigned(h, id, path, methods, rr, code))
		}
	}
	for _, note := range rr.notes {
		comment(out, note)
	}
	for _, p := range c.problems[first:] {
		if p.Key != "" {
			comment(out, "NOT CONVERTED: "+p.Key+": "+p.Msg)
		} else {
			comment(out, "NOT CONVERTED: "+p.Msg)
		}
	}
	return hooks
}

// newID returns id, or id with a number, whichever no hook has yet.
func (c *converter) newID(id string) string {
	try := id
	for i := 2; c.ids[try]; i++ {
		try = fmt.Sprintf("%s-%d", id, i)
	}
	c.ids[try] = true
	return try
}

// sanitize makes s a postbox id: characters other than letters, digits,
// _ . and - become -.
func sanitize(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if !(ch == '_' || ch == '.' || ch == '-' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9') {
			b[i] = '-'
		}
	}
	s = strings.TrimLeft(string(b), "_.-")
	if s == "" {
		s = "hook"
	}
	return s
}

func (c *converter) methods(h *hookDef, report func(int, string, string)) []string {
	given := h.HTTPMethods
	if len(given) == 0 {
		if len(c.opts.Methods) == 0 {
			return defaultMethods
		}
		given = c.opts.Methods
	}
	var out []string
	seen := map[string]bool{}
	for i, m := range given {
		m = strings.ToUpper(strings.TrimSpace(m))
		switch {
		case !methodPattern.MatchString(m):
			report(keyLine(h.node, "http-methods"), fmt.Sprintf("http-methods[%d]", i), fmt.Sprintf("%q is not an HTTP method; left out", given[i]))
		case !seen[m]:
			seen[m] = true
			out = append(out, m)
		}
	}
	if len(out) == 0 {
		return []string{"POST"}
	}
	return out
}

// sigNode is the webhook_hmac block of sigs.
func sigNode(sigs []*hmacAuth) *yaml.Node {
	seq := sequence()
	for _, a := range sigs {
		seq.Content = append(seq.Content, flow(mapping("header", str(a.header), "algorithm", str(a.algorithm), "secret", quoted(a.secret))))
	}
	return mapping("signatures", seq)
}

// servable reports whether a webhook id can be served by postbox at the
// same URL: path segments of characters a ServeMux pattern takes as they
// are (webhook serves "sendgrid/dir" at /hooks/sendgrid/dir).
func servable(id string) bool {
	for _, seg := range strings.Split(id, "/") {
		if !pathSafe.MatchString(seg) || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// action converts the command and what it is passed. vars holds the
// values templates need from the request line (method, remote address).
func (c *converter) action(h *hookDef, report func(int, string, string)) (action, vars *yaml.Node) {
	vars = mapping()
	if h.ExecuteCommand == "" {
		return nil, vars
	}
	needVar := func(v *templateVar) {
		if v != nil && get(vars, v.name) == nil {
			set(vars, v.name, str(v.expr))
		}
	}
	action = mapping("command", str(command(h.ExecuteCommand, h.CommandWorkingDirectory)))
	if h.CommandWorkingDirectory != "" {
		set(action, "dir", str(h.CommandWorkingDirectory))
	}
	if c.opts.CommandTimeout > 0 {
		set(action, "timeout", str(c.opts.CommandTimeout.String()))
	}
	if c.opts.Serve {
		// As webhook: the server's environment, and a missing command
		// found out at the request.
		set(action, "inherit_env", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
		set(action, "lookup_at_run", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	}
	if len(h.PassArgumentsToCommand) > 0 {
		args := sequence()
		for i, a := range h.PassArgumentsToCommand {
			t, v, problem := c.argTemplate(h, a)
			if problem != "" {
				// webhook passes "" for an argument it cannot get.
				report(a.line, fmt.Sprintf("pass-arguments-to-command[%d]", i), problem+"; passed as \"\"")
			}
			needVar(v)
			args.Content = append(args.Content, quoted(t))
		}
		set(action, "args", args)
	}
	if len(h.PassEnvironmentToCommand) > 0 {
		env := mapping()
		for i, a := range h.PassEnvironmentToCommand {
			t, v, problem := c.argTemplate(h, a)
			if problem != "" {
				// webhook leaves out a variable it cannot get.
				report(a.line, fmt.Sprintf("pass-environment-to-command[%d]", i), problem+"; left out")
				continue
			}
			needVar(v)
			name := a.EnvName
			if name == "" {
				name = "HOOK_" + a.Name
			}
			set(env, name, quoted(t))
		}
		if len(env.Content) > 0 {
			set(action, "env", env)
		}
	}
	if len(h.PassFileToCommand) > 0 {
		files := mapping()
		for i, a := range h.PassFileToCommand {
			t, v, problem := c.argTemplate(h, a)
			if problem != "" {
				report(a.line, fmt.Sprintf("pass-file-to-command[%d]", i), problem+"; left out")
				continue
			}
			needVar(v)
			name := a.EnvName
			if name == "" {
				name = "HOOK_" + strings.ToUpper(a.Name)
			}
			name = envName(name)
			if a.Base64Decode {
				t = "{{ base64decode " + pipeline(t) + " }}"
			}
			set(files, name, quoted(t))
		}
		if len(files.Content) > 0 {
			set(action, "files", files)
		}
	}
	return action, vars
}

// argTemplate renders a request value for a command. Under postbox
// webhook a payload value goes through param, so that it is passed as
// webhook passes it: "" when absent at any depth, JSON for an object.
func (c *converter) argTemplate(h *hookDef, a argument) (string, *templateVar, string) {
	j := jsonParams(h.JSONStringParameters)
	if !c.opts.Serve || a.Source != srcPayload {
		return j.template(a)
	}
	head, path := ".Payload", a.Name
	if base, rest, ok := j.find(a); ok && len(rest) > 0 {
		t, _, _ := valueTemplate(base)
		head, path = "(fromjson "+pipeline(t)+")", strings.Join(rest, ".")
	}
	return "{{ param " + head + " " + strconv.Quote(path) + " }}", nil, ""
}

// envName makes s a variable name: what is not a letter, digit or _
// becomes _.
func envName(s string) string {
	b := []byte(s)
	for i, ch := range b {
		if !(ch == '_' || ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || i > 0 && ch >= '0' && ch <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// pipeline returns the inside of a value template ({{ X }} gives X), or
// the template quoted as a string when it is plain text.
func pipeline(t string) string {
	if inner, ok := strings.CutPrefix(t, "{{ "); ok && strings.HasSuffix(inner, " }}") {
		return "(" + strings.TrimSuffix(inner, " }}") + ")"
	}
	return strconv.Quote(t)
}

// command returns the command as webhook runs it: a relative command with
// a working directory is looked up in that directory when it names a path
// (./deploy.sh) or a file there, else in PATH.
func command(cmd, dir string) string {
	if dir == "" || filepath.IsAbs(cmd) {
		return cmd
	}
	joined := filepath.Join(dir, cmd)
	if strings.ContainsRune(cmd, '/') {
		return joined
	}
	if fi, err := os.Stat(joined); err == nil && !fi.IsDir() {
		return joined
	}
	return cmd
}

// response converts what webhook answers when the hook runs (with the
// command's output when the hook is sync).
func (c *converter) response(h *hookDef, report func(int, string, string)) *yaml.Node {
	r := mapping()
	if h.SuccessCode != 0 {
		set(r, "status", integer(status(h.SuccessCode, keyLine(h.node, "success-http-response-code"), "success-http-response-code", report)))
	}
	if h.CaptureCommandOutput {
		set(r, "error_status", integer(http.StatusInternalServerError))
		body := "{{ if .Result.Err }}" + commandError + "{{ else }}{{ .Result.Output }}{{ end }}"
		if h.CaptureCommandOutputOnError {
			body = "{{ .Result.Output }}"
		}
		set(r, "body", quoted(body))
	} else {
		set(r, "body", quoted(literalTemplate(h.ResponseMessage)))
	}
	if len(h.ResponseHeaders) > 0 || len(c.opts.Headers) > 0 {
		hdr := mapping()
		for _, kv := range c.opts.Headers {
			set(hdr, kv[0], str(kv[1]))
		}
		for i, rh := range h.ResponseHeaders {
			if strings.TrimSpace(rh.Name) == "" {
				report(keyLine(h.node, "response-headers"), fmt.Sprintf("response-headers[%d]", i), "has no name; left out")
				continue
			}
			set(hdr, rh.Name, str(rh.Value))
		}
		if len(hdr.Content) > 0 {
			set(r, "headers", hdr)
		}
	}
	return r
}

// status maps a configured status code as webhook uses it: a code Go
// knows no text for is answered 200.
func status(code, line int, key string, report func(int, string, string)) int {
	switch {
	case http.StatusText(code) == "":
		return http.StatusOK
	case code < 200:
		report(line, key, fmt.Sprintf("%d is not converted: postbox answers with a final status (200 to 599); 200 is used", code))
		return http.StatusOK
	}
	return code
}

// checkHook reports the keys with no postbox equivalent.
func (c *converter) checkHook(h *hookDef, report func(int, string, string)) {
	n := h.node
	if h.IncomingPayloadContentType != "" {
		report(keyLine(n, "incoming-payload-content-type"), "incoming-payload-content-type",
			fmt.Sprintf("is not converted: postbox parses a body by the request's own Content-Type; have the sender send Content-Type: %s", h.IncomingPayloadContentType))
	}
	for i, a := range h.JSONStringParameters {
		if a.Source != srcPayload && a.Source != srcHeader && !isURL(a.Source) {
			report(a.line, fmt.Sprintf("parse-parameters-as-json[%d]", i),
				fmt.Sprintf("source %q is not converted: a JSON value is decoded from a payload, header or url value; references under it fail closed", a.Source))
		}
	}
	for _, k := range unknownKeys(n, knownHookKeys) {
		report(keyLine(n, k), k, "is not a key this converter knows (pre-hook-command and stream-command-output of webhook's forks are not supported); not converted")
	}
	var templated []string
	walkStrings(n, func(s string) {
		if strings.Contains(s, "{{") && strings.Contains(s, "getenv") {
			templated = append(templated, s)
		}
	})
	if len(templated) > 0 {
		report(n.Line, "", fmt.Sprintf("uses {{ getenv ... }} of webhook's -template mode (%q); it is copied as it is: write ${NAME} instead, which postbox expands itself", templated[0]))
	}
}

func walkStrings(n *yaml.Node, f func(string)) {
	if n.Kind == yaml.ScalarNode {
		f(n.Value)
	}
	for _, c := range n.Content {
		walkStrings(c, f)
	}
}

// unmatched is the hook that answers, on the same path, the requests the
// converted hook's condition refuses: webhook answers them 200 (or
// trigger-rule-mismatch-http-response-code) with "Hook rules were not
// satisfied.", where postbox alone would answer 422. It shares the
// signature check, so that a bad signature is still refused, but not the
// IP allowlist: webhook answers other addresses as unmet rules too.
func (c *converter) unmatched(id, path string, methods []string, rr *ruleResult, code int) *yaml.Node {
	out := mapping("id", str(c.newID(id+"-unmatched")))
	comment(out,
		fmt.Sprintf("Answers what hook %q's rule refuses, as webhook did; stored, no action.", id),
		"Remove it to have postbox answer 422 instead.")
	set(out, "path", str(path))
	set(out, "methods", flow(strings2seq(methods)))
	if rr.sigs != nil {
		set(out, "auth", mapping("webhook_hmac", sigNode(rr.sigs)))
		// The hook answering unsigned requests follows on the path.
		set(out, "when", str("true"))
	}
	set(out, "response", c.notSatisfied(code))
	return out
}

// notSatisfied is webhook's answer to a request its rule refuses, with
// the -header headers.
func (c *converter) notSatisfied(code int) *yaml.Node {
	r := flow(mapping("status", integer(code), "body", quoted(notSatisfied)))
	if len(c.opts.Headers) > 0 {
		hdr := flow(mapping())
		for _, kv := range c.opts.Headers {
			set(hdr, kv[0], str(kv[1]))
		}
		set(r, "headers", hdr)
	}
	return r
}

// mismatchCode is the status of webhook's "Hook rules were not
// satisfied." answer.
func (c *converter) mismatchCode(h *hookDef, report func(int, string, string)) int {
	if h.MismatchCode == 0 {
		return http.StatusOK
	}
	return status(h.MismatchCode, keyLine(h.node, "trigger-rule-mismatch-http-response-code"), "trigger-rule-mismatch-http-response-code", report)
}

// unsigned is the hook that answers, on the same path, the requests that
// carry none of the signature headers: webhook takes a missing value as a
// rule not met, not as an error. With trigger-signature-soft-failures it
// answers a signature that does not match the same way; else that one is
// refused (401).
func (c *converter) unsigned(h *hookDef, id, path string, methods []string, rr *ruleResult, code int) *yaml.Node {
	out := mapping("id", str(c.newID(id+"-unsigned")))
	set(out, "path", str(path))
	set(out, "methods", flow(strings2seq(methods)))
	if h.SignatureSoftFailures {
		comment(out, fmt.Sprintf("Answers requests whose signature does not match hook %q, as webhook did with trigger-signature-soft-failures; stored, no action.", id))
	} else {
		comment(out, fmt.Sprintf("Answers requests without a signature for hook %q, as webhook did; stored, no action.", id))
		var absent []string
		for _, a := range rr.sigs {
			absent = append(absent, "!("+strconv.Quote(textproto.CanonicalMIMEHeaderKey(a.header))+" in header)")
		}
		set(out, "when", str(strings.Join(absent, " && ")))
	}
	set(out, "response", c.notSatisfied(code))
	return out
}
