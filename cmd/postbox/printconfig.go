package main

import (
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/config"
	"github.com/postbox/postbox/internal/yamlcomment"
	"gopkg.in/yaml.v3"
)

// redacted replaces every secret value in printed configuration.
const redacted = "[redacted]"

// printConfig writes the effective configuration as YAML: the file as
// written, with every default filled in and every secret replaced by
// [redacted]. A value from the environment or a secret file is never
// printed, whatever its key: it stays the ${NAME} reference or the
// secret_file: path it was written as. Secrets written in the file itself
// are found by where they sit (secret, secrets, password, token keys;
// credential-like headers and environment variables; passwords in URLs),
// so one written anywhere else, such as in a command's arguments, is
// printed as it is: put it in the environment instead.
func printConfig(w io.Writer, cfg *config.Config) error {
	if cfg.Tree == nil {
		return fmt.Errorf("print config: the configuration was not loaded from YAML")
	}
	root := cloneNode(cfg.Tree)
	fillDefaults(root, cfg)
	redact(root, "")
	root.HeadComment = "The effective configuration of " + yamlcomment.Line(cfg.File) + ": defaults filled in, secrets redacted, ${ENV} and secret files not expanded."
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return fmt.Errorf("print config: %w", err)
	}
	return enc.Close()
}

// cloneNode deep-copies n, replacing aliases by copies of what they point
// to: a secret shared through an anchor is then redacted wherever it is
// used, and the anchor cannot print it elsewhere.
func cloneNode(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return cloneNode(n.Alias)
	}
	c := *n
	c.Anchor, c.Alias = "", nil
	c.HeadComment, c.LineComment, c.FootComment = "", "", ""
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, sub := range n.Content {
		c.Content[i] = cloneNode(sub)
	}
	return &c
}

// fillDefaults adds each setting the file left out, with the value the
// loaded configuration has for it.
func fillDefaults(root *yaml.Node, cfg *config.Config) {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return
	}
	setDefault(root, "listen", str(cfg.Listen), "hooks")
	setDefault(root, "admin", str(cfg.Admin), "hooks")
	if cfg.Store == "" {
		setDefault(root, "data", str(cfg.Data), "hooks")
	}
	setDefault(root, "workers", num(cfg.Workers), "hooks")
	setDefault(root, "io_workers", num(cfg.IOWorkers), "hooks")
	lim := mapping(root, "limits", "hooks")
	setDefault(lim, "max_body", str(formatSize(cfg.Limits.MaxBody)), "")
	setDefault(lim, "max_header_bytes", str(formatSize(int64(cfg.Limits.MaxHeaderBytes))), "")
	setDefault(lim, "read_header_timeout", str(formatDuration(cfg.Limits.ReadHeaderTimeout)), "")
	setDefault(lim, "read_timeout", str(formatDuration(cfg.Limits.ReadTimeout)), "")
	setDefault(lim, "write_timeout", str(formatDuration(cfg.Limits.WriteTimeout)), "")
	setDefault(lim, "idle_timeout", str(formatDuration(cfg.Limits.IdleTimeout)), "")
	setDefault(lim, "max_inflight", num(cfg.Limits.MaxInflight), "")
	if t := cfg.TLS; t != nil && t.ACME != nil {
		acme := mapping(mapping(root, "tls", "hooks"), "acme", "")
		setDefault(acme, "directory", str(t.ACME.Directory), "")
		setDefault(acme, "cache", str(t.ACME.Cache), "")
	}
	hooks := valueOf(root, "hooks")
	if hooks == nil || hooks.Kind != yaml.SequenceNode || len(hooks.Content) != len(cfg.Hooks) {
		return
	}
	for i, h := range cfg.Hooks {
		if n := hooks.Content[i]; n.Kind == yaml.MappingNode {
			fillHook(n, h)
		}
	}
}

func fillHook(n *yaml.Node, h *postbox.Hook) {
	setDefault(n, "path", str(h.Path), "")
	methods := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
	for _, m := range h.Methods {
		methods.Content = append(methods.Content, str(m))
	}
	setDefault(n, "methods", methods, "")
	setDefault(n, "max_body", str(formatSize(h.MaxBody)), "")
	mode := "async"
	if h.Sync {
		mode = "sync"
		setDefault(n, "timeout", str(formatDuration(h.SyncTimeout)), "")
	}
	setDefault(n, "mode", str(mode), "")
	if h.Dedup.Key != nil {
		setDefault(mapping(n, "dedup", ""), "window", str(formatDuration(h.Dedup.Window)), "")
	}
	retry := mapping(n, "retry", "")
	setDefault(retry, "attempts", num(max(h.Retry.Attempts, 1)), "")
	setDefault(retry, "backoff", str(formatDuration(h.Retry.Backoff)), "")
	setDefault(retry, "max_backoff", str(formatDuration(h.Retry.MaxBackoff)), "")
	resp := mapping(n, "response", "")
	setDefault(resp, "status", num(h.Response.Status), "")
	setDefault(resp, "error_status", num(h.Response.ErrorStatus), "")
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }
func num(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(i)}
}

// valueOf returns the value of key in mapping m, or nil.
func valueOf(m *yaml.Node, key string) *yaml.Node {
	for i := 0; m != nil && i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// setDefault adds key: v to mapping m unless m has key, before the key
// before (or at the end).
func setDefault(m *yaml.Node, key string, v *yaml.Node, before string) {
	if m == nil || m.Kind != yaml.MappingNode || valueOf(m, key) != nil {
		return
	}
	at := len(m.Content)
	for i := 0; before != "" && i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == before {
			at = i
			break
		}
	}
	pair := []*yaml.Node{str(key), v}
	m.Content = append(m.Content[:at], append(pair, m.Content[at:]...)...)
}

// mapping returns the mapping under key in m, adding an empty one.
func mapping(m *yaml.Node, key, before string) *yaml.Node {
	if v := valueOf(m, key); v != nil {
		return v
	}
	v := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	setDefault(m, key, v, before)
	return v
}

// formatSize writes n the way the file would: 1MiB, 64KiB or a number.
func formatSize(n int64) string {
	switch {
	case n > 0 && n%(1<<20) == 0:
		return fmt.Sprintf("%dMiB", n>>20)
	case n > 0 && n%(1<<10) == 0:
		return fmt.Sprintf("%dKiB", n>>10)
	}
	return strconv.FormatInt(n, 10)
}

// formatDuration is Duration.String without zero units: 2m, not 2m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// isSecretKey reports whether the value of a setting named key is a
// secret: secret, secrets, password, token and their *_secret forms.
func isSecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, s := range []string{"secret", "secrets", "password", "passwords", "token", "tokens"} {
		if k == s || strings.HasSuffix(k, "_"+s) {
			return true
		}
	}
	return false
}

// credentialName matches header and environment variable names whose
// value is a credential: Authorization, X-Api-Key, DB_PASSWORD, ...
var credentialName = regexp.MustCompile(`(?i)auth|token|secret|passw|pwd|key|cookie|signature|credential|session`)

// redact replaces secrets in n, whose key in its parent mapping is parent.
func redact(n *yaml.Node, parent string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			redact(c, parent)
		}
	case yaml.MappingNode:
		named := parent == "headers" || parent == "env"
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			switch {
			case isSecretKey(k.Value) && v.Kind != yaml.MappingNode:
				redactAll(v)
			case named && credentialName.MatchString(k.Value):
				redactAll(v)
			default:
				redact(v, k.Value)
			}
		}
	case yaml.ScalarNode:
		if s := redactInline(n.Value); s != n.Value {
			n.Value, n.Tag, n.Style = s, "!!str", 0
		}
	}
}

// redactAll replaces every scalar in n.
func redactAll(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode {
		if n.Value != "" {
			n.Value, n.Tag, n.Style = redacted, "!!str", 0
		}
		return
	}
	for _, c := range n.Content {
		redactAll(c)
	}
}

var (
	// urlPassword is the password of a URL's user information.
	urlPassword = regexp.MustCompile(`(://[^/?#@\s:]*:)[^/?#@\s]*@`)
	// queryCredential is a query parameter or key=value setting (as in a
	// PostgreSQL connection string) whose value is a credential.
	queryCredential = regexp.MustCompile(`(?i)([?&\s]|^)((?:[a-z0-9_.-]*(?:token|secret|passw|pwd|key|sig|auth)[a-z0-9_.-]*)=)[^&\s#]*`)
)

// redactInline replaces credentials inside a value that is not a secret
// as a whole: passwords in URLs, credential query parameters.
func redactInline(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}"+redacted+"@")
	// Only in URLs and connection strings: elsewhere (a when: condition,
	// a template) name=value is not a setting.
	if strings.Contains(s, "://") || strings.Contains(strings.ToLower(s), "password=") {
		s = queryCredential.ReplaceAllString(s, "${1}${2}"+redacted)
	}
	return s
}
