package config

import (
	"errors"
	"fmt"
	"github.com/postbox/postbox/internal/spell"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/tmpl"
	"github.com/postbox/postbox/schema"
	"github.com/postbox/postbox/signature"
	"gopkg.in/yaml.v3"
)

type hookConfig struct {
	ID       string         `yaml:"id"`
	Path     string         `yaml:"path"`
	Methods  []string       `yaml:"methods"`
	Auth     yaml.Node      `yaml:"auth"`    // scheme name → params, decoded by the scheme
	Actions  []yaml.Node    `yaml:"actions"` // kind → params, decoded by the kind
	Response responseConfig `yaml:"response"`
	MaxBody  ByteSize       `yaml:"max_body"`
	Retry    retryConfig    `yaml:"retry"`
	// ContinueOnError runs later actions after one failed.
	ContinueOnError bool        `yaml:"continue_on_error"`
	Dedup           dedupConfig `yaml:"dedup"`
	// Mode is async (answer once stored; the default) or sync (run the
	// actions first, within Timeout).
	Mode    string        `yaml:"mode"`
	Timeout time.Duration `yaml:"timeout"`

	Accept      []string  `yaml:"accept"`
	Schema      string    `yaml:"schema"` // a JSON Schema file, relative to the config file
	When        string    `yaml:"when"`
	Vars        yaml.Node `yaml:"vars"` // name → expression, in order
	OnUnmatched string    `yaml:"on_unmatched"`

	Concurrency int    `yaml:"concurrency"`
	Order       string `yaml:"order"` // "" or per-key
	Key         string `yaml:"key"`   // the ordering key template for order: per-key

	Retention *retentionConfig `yaml:"retention"` // over the top level's
}

type dedupConfig struct {
	Key    string        `yaml:"key"`
	Window time.Duration `yaml:"window"`
}

// DefaultDedupWindow is how long a dedup key is remembered by default.
const DefaultDedupWindow = 24 * time.Hour

// DefaultSyncTimeout bounds a sync hook's actions by default.
const DefaultSyncTimeout = 30 * time.Second

type responseConfig struct {
	Status      int               `yaml:"status"`
	ErrorStatus int               `yaml:"error_status"`
	ExitStatus  map[int]int       `yaml:"exit_status"`
	Headers     map[string]string `yaml:"headers"`
	Body        *string           `yaml:"body"`
	Stream      bool              `yaml:"stream"`
}

type retryConfig struct {
	Attempts   int           `yaml:"attempts"`
	Backoff    time.Duration `yaml:"backoff"`
	MaxBackoff time.Duration `yaml:"max_backoff"`
}

var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	methodPattern = regexp.MustCompile(`^[A-Z]+$`)
)

// build validates fc and fills l.cfg. root is the document's mapping node,
// used to find the line of each field.
func (l *loader) build(root *yaml.Node, fc *fileConfig) {
	cfg := &Config{
		File:       l.file,
		Listen:     orDefault(fc.Listen, DefaultListen),
		Admin:      orDefault(fc.Admin.Listen, DefaultAdmin),
		AdminToken: fc.Admin.Token,
		AdminHosts: fc.Admin.Hosts,
		Data:       l.relative(orDefault(fc.Data, DefaultData)),
		Store:      fc.Store,
		Workers:    fc.Workers,
		Limits: Limits{
			MaxBody:           int64(fc.Limits.MaxBody),
			MaxHeaderBytes:    int(fc.Limits.MaxHeaderBytes),
			ReadHeaderTimeout: fc.Limits.ReadHeaderTimeout,
			ReadTimeout:       fc.Limits.ReadTimeout,
			WriteTimeout:      fc.Limits.WriteTimeout,
			IdleTimeout:       fc.Limits.IdleTimeout,
			MaxInflight:       fc.Limits.MaxInflight,
		},
	}
	l.cfg = cfg
	for i, p := range fc.TrustedProxies {
		prefix, err := parsePrefix(p)
		if err != nil {
			l.addf(findKey(root, "trusted_proxies"), fmt.Sprintf("trusted_proxies[%d]", i), "%q is not an IP address or CIDR prefix", p)
			continue
		}
		cfg.TrustedProxies = append(cfg.TrustedProxies, prefix)
	}
	if err := listenAddr(cfg.Listen); err != nil {
		l.addf(findKey(root, "listen"), "listen", "%q is not a host:port address: %v", cfg.Listen, err)
	}
	l.checkAdminToken(root, cfg.AdminToken)
	l.checkListeners(root, cfg)
	if cfg.Admin != "off" {
		if err := listenAddr(cfg.Admin); err != nil {
			l.addf(findKey(root, "admin"), "admin", "%q is not a host:port address (or off): %v", cfg.Admin, err)
		} else if !isLoopback(cfg.Admin) && cfg.AdminToken == "" && len(fc.Admin.Tokens) == 0 {
			l.addf(findKey(root, "admin"), "admin", "listens on %s, beyond loopback, without a token: set admin: {listen: %s, token: ${POSTBOX_ADMIN_TOKEN}}", cfg.Admin, cfg.Admin)
		}
		for _, h := range cfg.AdminHosts {
			if h == "" || strings.ContainsAny(h, "/@ ") {
				l.addf(findKey(root, "admin"), "admin.hosts", "%q is not a host name: write it as a browser's Host header has it, e.g. postbox.example.com", h)
			}
		}
	}
	if cfg.Workers == 0 {
		cfg.Workers = runtime.NumCPU()
	} else if cfg.Workers < 0 {
		l.addf(findKey(root, "workers"), "workers", "must not be negative")
	}
	l.buildDelivery(root, fc, cfg)
	lim := &cfg.Limits
	setDefault(&lim.MaxBody, DefaultMaxBody)
	setDefault(&lim.MaxHeaderBytes, 64<<10)
	setDefault(&lim.ReadHeaderTimeout, 5*time.Second)
	setDefault(&lim.ReadTimeout, 30*time.Second)
	setDefault(&lim.WriteTimeout, 60*time.Second)
	setDefault(&lim.IdleTimeout, 120*time.Second)
	setDefault(&lim.MaxInflight, 1024)

	hooksNode := findKey(root, "hooks")
	if len(fc.Hooks) == 0 {
		l.addf(hooksNode, "hooks", "no hooks are configured")
	}
	ids := map[string]int{}
	paths := map[string]string{}
	mux := http.NewServeMux()
	for i, hc := range fc.Hooks {
		field := fmt.Sprintf("hooks[%d]", i)
		n := hooksNode.Content[i]
		h := l.buildHook(n, field, hc, lim.MaxBody)
		if h == nil {
			continue
		}
		if first, dup := ids[h.ID]; dup {
			l.addf(findKey(n, "id"), field+".id", "hook id %q is already used by hooks[%d]", h.ID, first)
		}
		ids[h.ID] = i
		if other, dup := paths[h.Path]; dup {
			// Hooks may share a path when the earlier ones have a
			// condition: the first that matches takes the request.
			if prev := cfg.Hooks[len(cfg.Hooks)-1]; prev.Path != h.Path || prev.When == nil {
				l.addf(pathNode(n), field+".path", "path %s is already used by hook %q; hooks sharing a path must follow each other and all but the last need a when: condition", h.Path, other)
			}
		} else if err := tryRegister(mux, h.Path); err != nil {
			l.addf(pathNode(n), field+".path", "%v", err)
		} else {
			paths[h.Path] = h.ID
		}
		cfg.Hooks = append(cfg.Hooks, h)
	}
	l.buildRetention(root, fc, cfg)
	l.buildAdminTokens(root, fc, cfg)
}

func pathNode(n *yaml.Node) *yaml.Node {
	if p := findKey(n, "path"); p != nil {
		return p
	}
	return findKey(n, "id")
}

// tryRegister checks that path is a ServeMux pattern that does not
// conflict with the ones before it; ServeMux panics on both.
func tryRegister(mux *http.ServeMux, path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%s is not a usable path pattern: %s", path, muxMessage(fmt.Sprint(r)))
		}
	}()
	mux.Handle(path, http.NotFoundHandler())
	return nil
}

var registeredAt = regexp.MustCompile(` \(registered at [^)]*\)`)

// muxMessage makes ServeMux's panic text one line for a user: no Go source
// positions, and of a conflict only the example path both patterns match.
func muxMessage(msg string) string {
	msg = registeredAt.ReplaceAllString(msg, "")
	if i := strings.Index(msg, ": "); i >= 0 && strings.HasPrefix(msg, "parsing") {
		msg = msg[i+2:]
	}
	lines := strings.Split(msg, "\n")
	out := strings.TrimSuffix(strings.TrimSpace(lines[0]), ":")
	if len(lines) > 1 {
		out += " (" + strings.TrimSuffix(strings.TrimSpace(lines[1]), ".") + ")"
	}
	return out
}

// buildHook builds one hook from its configuration, a named step for each
// group of keys; every problem is recorded with its line, and the hook is
// returned all the same so that later checks see it (nil when its id is
// unusable).
func (l *loader) buildHook(n *yaml.Node, field string, hc hookConfig, maxBody int64) *postbox.Hook {
	h := &postbox.Hook{ID: hc.ID, Path: hc.Path, MaxBody: int64(hc.MaxBody)}
	switch {
	case hc.ID == "":
		l.addf(n, field+".id", "is required")
		return nil
	case !idPattern.MatchString(hc.ID):
		l.addf(findKey(n, "id"), field+".id", "%q may hold only letters, digits, '_', '.' and '-'", hc.ID)
		return nil
	}
	field = fmt.Sprintf("hooks[%d] %q", indexOf(field), hc.ID)
	if h.MaxBody == 0 {
		h.MaxBody = maxBody
	}
	l.buildRoute(n, field, hc, h)
	h.Auth, h.AuthNames = l.buildAuth(&hc.Auth, field+": auth")
	for i := range hc.Actions {
		if a := l.buildAction(&hc.Actions[i], fmt.Sprintf("%s: actions[%d]", field, i)); a != nil {
			h.Actions = append(h.Actions, a)
		}
	}
	h.Response = l.buildResponse(findKey(n, "response"), field+": response", hc.Response)
	l.buildOutcome(n, field, hc, h)
	l.buildMode(n, field, hc, h)
	l.buildBody(n, field, hc, h)
	l.buildRules(n, field, hc, h)
	l.buildOrder(n, field, hc, h)
	return h
}

// buildRoute sets the hook's path and methods.
func (l *loader) buildRoute(n *yaml.Node, field string, hc hookConfig, h *postbox.Hook) {
	if h.Path == "" {
		h.Path = "/hooks/" + h.ID
	}
	if !strings.HasPrefix(h.Path, "/") {
		l.addf(findKey(n, "path"), field+": path", "%q must start with / (a method or host is not allowed here; use methods:)", h.Path)
	}
	h.Methods = hc.Methods
	if len(h.Methods) == 0 {
		h.Methods = []string{http.MethodPost}
	}
	seen := map[string]bool{}
	for i, m := range h.Methods {
		up := strings.ToUpper(m)
		if !methodPattern.MatchString(up) {
			l.addf(findKey(n, "methods"), fmt.Sprintf("%s: methods[%d]", field, i), "%q is not an HTTP method", m)
		}
		if seen[up] {
			l.addf(findKey(n, "methods"), fmt.Sprintf("%s: methods[%d]", field, i), "%s is listed twice", up)
		}
		seen[up] = true
		h.Methods[i] = up
	}
}

// buildOutcome sets what happens to a delivery after an attempt: retries,
// continue_on_error, and the dedup window and key.
func (l *loader) buildOutcome(n *yaml.Node, field string, hc hookConfig, h *postbox.Hook) {
	h.Retry = postbox.RetryPolicy{Attempts: hc.Retry.Attempts, Backoff: hc.Retry.Backoff, MaxBackoff: hc.Retry.MaxBackoff}
	if h.Retry.Attempts < 0 {
		l.addf(findKey(findKey(n, "retry"), "attempts"), field+": retry.attempts", "must not be negative")
	}
	if h.Retry.Backoff <= 0 {
		h.Retry.Backoff = time.Second
	}
	if h.Retry.MaxBackoff <= 0 {
		h.Retry.MaxBackoff = 10 * time.Minute
	}
	h.ContinueOnError = hc.ContinueOnError
	h.Dedup.Window = hc.Dedup.Window
	if h.Dedup.Window <= 0 {
		h.Dedup.Window = DefaultDedupWindow
	}
	if hc.Dedup.Key != "" {
		if t := l.keyTemplate(findKey(findKey(n, "dedup"), "key"), field+": dedup.key", "dedup.key", hc.Dedup.Key); t != nil {
			h.Dedup.Key = t
		}
	}
}

// keyTemplate compiles a key template (dedup.key, key) and renders it once
// over empty data; nil after a problem, which it records.
func (l *loader) keyTemplate(at *yaml.Node, field, name, src string) postbox.Template {
	t, err := tmpl.Parse(name, src)
	if err != nil {
		l.addf(at, field, "is not a valid template: %v", cleanTemplateErr(err))
		return nil
	}
	if err := dryRun(t); err != nil {
		l.addf(at, field, "%v", err)
		return nil
	}
	return t
}

// buildMode sets sync or async, the sync timeout and response.stream.
func (l *loader) buildMode(n *yaml.Node, field string, hc hookConfig, h *postbox.Hook) {
	switch hc.Mode {
	case "", "async":
	case "sync":
		h.Sync = true
	default:
		l.addf(findKey(n, "mode"), field+": mode", "%q is not a mode: use async (the default) or sync", hc.Mode)
	}
	h.SyncTimeout = hc.Timeout
	if h.SyncTimeout <= 0 {
		h.SyncTimeout = DefaultSyncTimeout
	}
	if hc.Timeout != 0 && !h.Sync {
		l.addf(findKey(n, "timeout"), field+": timeout", "applies to sync hooks only (mode: sync); set an action's own timeout instead")
	}
	if h.Response.Stream && (!h.Sync || hc.Response.Body != nil) {
		l.addf(findKey(findKey(n, "response"), "stream"), field+": response.stream",
			"streams the commands' output as the answer: it needs mode: sync, and no response.body")
	}
}

// buildBody sets what a body must be: accept, schema and on_unmatched.
func (l *loader) buildBody(n *yaml.Node, field string, hc hookConfig, h *postbox.Hook) {
	for i, a := range hc.Accept {
		if _, _, err := mime.ParseMediaType(a); err != nil || !strings.Contains(a, "/") {
			l.addf(findKey(n, "accept"), fmt.Sprintf("%s: accept[%d]", field, i), "%q is not a media type like application/json", a)
		}
		h.Accept = append(h.Accept, strings.ToLower(a))
	}
	if hc.Schema != "" {
		path := hc.Schema
		if !filepath.IsAbs(path) {
			path = filepath.Join(filepath.Dir(l.file), path)
		}
		sch, err := schema.Load(path)
		if err != nil {
			l.addf(findKey(n, "schema"), field+": schema", "cannot load %s: %v", path, err)
		} else {
			h.Schema = sch
		}
	}
	switch hc.OnUnmatched {
	case "", "reject":
	case "accept":
		h.AcceptUnmatched = true
	default:
		l.addf(findKey(n, "on_unmatched"), field+": on_unmatched", "%q: use reject (422, the default) or accept (200, stored without actions)", hc.OnUnmatched)
	}
}

// buildOrder sets the hook's concurrency and per-key ordering.
func (l *loader) buildOrder(n *yaml.Node, field string, hc hookConfig, h *postbox.Hook) {
	h.Concurrency = hc.Concurrency
	if hc.Concurrency < 0 {
		l.addf(findKey(n, "concurrency"), field+": concurrency", "must not be negative (0 means no limit of its own)")
	}
	switch hc.Order {
	case "":
		if hc.Key != "" {
			l.addf(findKey(n, "key"), field+": key", "is the ordering key of order: per-key; add order: per-key (or use dedup.key to drop repeats)")
		}
	case "per-key":
		if hc.Key == "" {
			l.addf(findKey(n, "order"), field+": order", "per-key needs key: a template such as \"{{ .Payload.device }}\"")
			break
		}
		if t := l.keyTemplate(findKey(n, "key"), field+": key", "key", hc.Key); t != nil {
			h.OrderKey = t
		}
	default:
		l.addf(findKey(n, "order"), field+": order", "%q: the only order is per-key", hc.Order)
	}
}

func indexOf(field string) int {
	var i int
	fmt.Sscanf(field, "hooks[%d]", &i)
	return i
}

func (l *loader) buildAuth(n *yaml.Node, field string) ([]postbox.Verifier, []string) {
	if n.Kind == 0 {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		l.addf(n, field, "must be a mapping of method to settings, e.g. token: {secret: ...}")
		return nil, nil
	}
	var out []postbox.Verifier
	var names []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		sub := field + "." + k.Value
		scheme, ok := signature.Lookup(k.Value)
		if !ok {
			l.addf(k, sub, "unknown authentication method%s", suggestName(k.Value, signature.Names()))
			continue
		}
		if k.Value == "ip" && v.Kind == yaml.SequenceNode {
			// ip: [CIDR, ...] is short for ip: {allow: [CIDR, ...]}.
			v = &yaml.Node{Kind: yaml.MappingNode, Line: v.Line, Column: v.Column, Content: []*yaml.Node{
				{Kind: yaml.ScalarNode, Value: "allow", Line: v.Line, Column: v.Column}, v}}
		}
		if v.Kind != yaml.MappingNode {
			l.addf(v, sub, "must be a mapping of settings")
			continue
		}
		verifier, err := scheme.New(l.decoder(v, sub))
		if err != nil {
			l.addErr(v, sub, err)
			continue
		}
		out = append(out, verifier)
		names = append(names, k.Value)
	}
	return out, names
}

// errReported marks a decode failure whose problems are already recorded.
var errReported = errors.New("reported")

// decoder returns a decode function for a scheme or action: strict keys,
// problems recorded with lines.
func (l *loader) decoder(n *yaml.Node, field string) func(any) error {
	return func(out any) error {
		if !l.decode(n, field, out) {
			return errReported
		}
		return nil
	}
}

// addErr records err from a scheme or action constructor: each joined
// error, with the line of the field it names when it names one.
func (l *loader) addErr(n *yaml.Node, field string, err error) {
	if errors.Is(err, errReported) {
		return
	}
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	for _, e := range errs {
		name, msg := fieldOf(e)
		if name == "" {
			l.addf(n, field, "%v", e)
			continue
		}
		at := findPath(n, name)
		if at == nil {
			at = n
		}
		l.addf(at, field+"."+name, "%s", msg)
	}
}

// fieldOf returns the field, relative to its block, and the message of a
// *postbox.FieldError that an action or a verifier returned.
func fieldOf(err error) (string, string) {
	var fe *postbox.FieldError
	if errors.As(err, &fe) {
		return fe.Field, fe.Message
	}
	return "", ""
}

func (l *loader) buildResponse(n *yaml.Node, field string, rc responseConfig) postbox.Response {
	r := postbox.Response{Status: rc.Status, ErrorStatus: rc.ErrorStatus, ExitStatus: rc.ExitStatus, Header: http.Header{}, Stream: rc.Stream}
	for code, st := range rc.ExitStatus {
		if st < 200 || st > 599 {
			l.addf(findKey(findKey(n, "exit_status"), fmt.Sprint(code)), fmt.Sprintf("%s.exit_status.%d", field, code), "%d is not an HTTP status from 200 to 599", st)
		}
	}
	if r.Status == 0 {
		r.Status = http.StatusOK
	} else if r.Status < 200 || r.Status > 599 {
		l.addf(findKey(n, "status"), field+".status", "%d is not an HTTP status from 200 to 599", r.Status)
	}
	if r.ErrorStatus == 0 {
		r.ErrorStatus = http.StatusBadGateway
	} else if r.ErrorStatus < 200 || r.ErrorStatus > 599 {
		l.addf(findKey(n, "error_status"), field+".error_status", "%d is not an HTTP status from 200 to 599", r.ErrorStatus)
	}
	for k, v := range rc.Headers {
		r.Header.Set(k, v)
	}
	if rc.Body != nil {
		t, err := tmpl.Parse("response.body", *rc.Body)
		if err != nil {
			l.addf(findKey(n, "body"), field+".body", "is not a valid template: %v", cleanTemplateErr(err))
		} else if err := dryRun(t); err != nil {
			l.addf(findKey(n, "body"), field+".body", "%v", err)
		}
		r.Body = t
	}
	return r
}

// dryRun executes t over sample data to catch references to fields that
// templates never have (.Paylod), which parsing alone does not.
func dryRun(t postbox.Template) error {
	_, err := t.Execute(&postbox.TemplateData{Payload: map[string]any{}, Path: map[string]string{}, Header: http.Header{}})
	if err != nil && strings.Contains(err.Error(), "can't evaluate field") {
		return fmt.Errorf("refers to a field templates do not have: %v (use .Payload, .Body, .Header, .Query, .Path, .Delivery.ID, .Delivery.Received, .Hook.ID)", cleanTemplateErr(err))
	}
	return nil
}

func cleanTemplateErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "template: ")
	return s
}

func suggestName(key string, names []string) string {
	if best := spell.Nearest(key, names, 3); best != "" {
		return fmt.Sprintf(" %q (did you mean %q?)", key, best)
	}
	return fmt.Sprintf(" %q", key)
}

// findKey returns the value node of key in mapping n, or nil.
func findKey(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// findPath follows a dotted path with [i] indexes ("args[2]", "env.X").
func findPath(n *yaml.Node, path string) *yaml.Node {
	for _, part := range strings.Split(path, ".") {
		key, idx, hasIdx := strings.Cut(part, "[")
		if key != "" {
			n = findKey(n, key)
		}
		if hasIdx && n != nil && n.Kind == yaml.SequenceNode {
			var i int
			fmt.Sscanf(idx, "%d]", &i)
			if i < 0 || i >= len(n.Content) {
				return nil
			}
			n = n.Content[i]
		}
		if n == nil {
			return nil
		}
	}
	return n
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func setDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v == 0 {
		*v = def
	}
}

// parsePrefix parses a CIDR prefix or a single address.
func parsePrefix(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// isLoopback reports whether host:port only listens on loopback.
func isLoopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
