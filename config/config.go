// Package config reads postbox's YAML configuration, expands ${ENV} and
// secret files, validates every field and builds the hooks that the server
// runs. Every problem is reported as "file:line: field: message".
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/prune"
	"gopkg.in/yaml.v3"
)

// Defaults for fields left out of the file.
const (
	DefaultListen  = "0.0.0.0:8080"
	DefaultAdmin   = "127.0.0.1:8081"
	DefaultData    = "./postbox-data"
	DefaultMaxBody = 1 << 20
)

// Config is a loaded, validated configuration.
type Config struct {
	File   string // the file it was read from
	Listen string
	Admin  string // the admin listener's address; "off" disables it
	// AdminToken, when set, is required as a bearer token by the admin
	// listener; it must be set when Admin is not a loopback address.
	AdminToken string
	// AdminHosts are the host names that the admin listener answers to
	// besides localhost, IP addresses and its own listen host: any other
	// Host header is refused, against DNS rebinding.
	AdminHosts []string
	// AdminTokens are further named admin tokens, each with its scopes
	// and perhaps limited to some hooks (admin.tokens, admintokens.go).
	AdminTokens []AdminToken
	Data        string // directory of the embedded store, resolved against the file's directory
	Store       string // a store URL (postgres://...); empty means SQLite in Data
	Limits      Limits
	// Workers caps the actions that run at once; 0 means the number of CPUs.
	Workers int
	// IOWorkers caps the http and mqtt actions that run at once; 0 in the
	// file means DefaultIOWorkers.
	IOWorkers int
	// Destinations are per-destination limits and breakers, by the name
	// DestinationName gives ("*" for every other destination).
	Destinations map[string]Destination
	// TrustedProxies are the peers whose X-Forwarded-For / Forwarded
	// headers name the real client.
	TrustedProxies []netip.Prefix
	Hooks          []*postbox.Hook
	// TLS, when not nil, makes the public listener serve HTTPS.
	TLS *TLS
	// Retention is how long deliveries are kept (retention:, see
	// retention.go), defaults filled in.
	Retention prune.Retention
	// Tree is the document as written, for printing the effective
	// configuration: ${ENV} references and secret_file: paths are left as
	// they are, so that no value from the environment or a secret file is
	// in it, whatever the name of the key it is under.
	Tree *yaml.Node
}

// Limits bound what a client may send and how long it may take.
type Limits struct {
	MaxBody           int64         // bytes; per hook max_body overrides it
	MaxHeaderBytes    int           // bytes of request line and headers
	ReadHeaderTimeout time.Duration // to read the request line and headers
	ReadTimeout       time.Duration // to read the whole request
	WriteTimeout      time.Duration // to write the response (sync hooks add their time)
	IdleTimeout       time.Duration // keep-alive connections
	// MaxInflight caps the requests being received and stored at once;
	// more are answered 503 with Retry-After at once instead of queueing
	// in memory.
	MaxInflight int
}

// fileConfig is the YAML document as written.
type fileConfig struct {
	Listen       string                       `yaml:"listen"`
	Admin        adminConfig                  `yaml:"admin"`
	Data         string                       `yaml:"data"`
	Store        string                       `yaml:"store"`
	Workers      int                          `yaml:"workers"`
	IOWorkers    int                          `yaml:"io_workers"`
	Destinations map[string]destinationConfig `yaml:"destinations"`
	Limits       limitsConfig                 `yaml:"limits"`
	Hooks        []hookConfig                 `yaml:"hooks"`

	TrustedProxies []string        `yaml:"trusted_proxies"`
	TLS            *tlsConfig      `yaml:"tls"`
	Retention      retentionConfig `yaml:"retention"`
}

type limitsConfig struct {
	MaxBody           ByteSize      `yaml:"max_body"`
	MaxHeaderBytes    ByteSize      `yaml:"max_header_bytes"`
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	ReadTimeout       time.Duration `yaml:"read_timeout"`
	WriteTimeout      time.Duration `yaml:"write_timeout"`
	IdleTimeout       time.Duration `yaml:"idle_timeout"`
	MaxInflight       int           `yaml:"max_inflight"`
}

// Problem is one thing wrong with a configuration file: the one
// configuration error type, postbox.FieldError, with its file, line and
// field filled in.
type Problem = postbox.FieldError

// Problems is every problem found in a file. It is the error Load returns.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Load reads, expands and validates the file at path. getenv resolves
// ${VAR} references. The error, when not nil, is a Problems listing every
// problem found (or a plain error when the file cannot be read).
func Load(path string, getenv func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, getenv)
}

// Parse is Load for data already read; name is used in messages.
func Parse(name string, data []byte, getenv func(string) string) (*Config, error) {
	l := &loader{file: name, getenv: getenv}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Problems{l.syntaxProblem(err, data)}
	}
	if len(doc.Content) == 0 {
		return nil, Problems{{File: name, Message: "the file is empty"}}
	}
	root := doc.Content[0]
	l.expand(root, "")
	if root.Kind != yaml.MappingNode {
		return nil, Problems{{File: name, Line: root.Line, Message: "the file must be a mapping of settings (listen:, hooks:, ...)"}}
	}
	var fc fileConfig
	l.root = root
	l.decode(root, "", &fc)
	l.build(root, &fc)
	l.buildTLS(findKey(root, "tls"), fc.TLS, l.cfg)
	// Parsed again rather than copied: expand rewrote root in place.
	var written yaml.Node
	if err := yaml.Unmarshal(data, &written); err == nil && len(written.Content) > 0 {
		l.cfg.Tree = written.Content[0]
	}
	if len(l.problems) > 0 {
		sort.SliceStable(l.problems, func(i, j int) bool { return l.problems[i].Line < l.problems[j].Line })
		return nil, l.problems
	}
	return l.cfg, nil
}

type loader struct {
	file     string
	getenv   func(string) string
	problems Problems
	cfg      *Config
	root     *yaml.Node
}

func (l *loader) addf(n *yaml.Node, field, format string, args ...any) {
	line := 0
	if n != nil {
		line = n.Line
	}
	l.problems = append(l.problems, Problem{File: l.file, Line: line, Field: field, Message: fmt.Sprintf(format, args...)})
}

// yamlProblem turns a yaml.v3 syntax error ("yaml: line 3: ...") into a
// Problem with the line.
func (l *loader) yamlProblem(err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	var line int
	if _, scanErr := fmt.Sscanf(msg, "line %d:", &line); scanErr == nil {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
	}
	return Problem{File: l.file, Line: line, Message: msg}
}

// decode decodes n into out after checking that n has no key out does not
// know. It reports problems and returns false when decoding failed.
func (l *loader) decode(n *yaml.Node, field string, out any) bool {
	before := len(l.problems)
	l.checkKnown(n, field, out)
	if err := n.Decode(out); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			for _, e := range te.Errors {
				p := l.yamlProblem(errors.New(e))
				p.Field = fieldAtLine(l.root, "", p.Line, quotedValue(p.Message))
				p.Message = strings.TrimSpace(p.Message)
				l.problems = append(l.problems, p)
			}
		} else {
			l.addf(n, field, "%v", err)
		}
	}
	return len(l.problems) == before
}

// listenAddr checks a host:port.
func listenAddr(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if port == "" {
		return errors.New("no port")
	}
	return nil
}

// ByteSize is a size in bytes written as 1048576, 512KiB, 1MiB, 1MB or 10k.
type ByteSize int64

// UnmarshalYAML parses a size with an optional unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
		{"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000},
		{"k", 1 << 10}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	var v int64
	if _, err := fmt.Sscan(s, &v); err != nil || v < 0 || fmt.Sprint(v) != s {
		// A TypeError lets the decoder go on and report the line.
		return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %q is not a size (use a number of bytes or 512KiB, 1MiB, 10MB)", n.Line, n.Value)}}
	}
	*b = ByteSize(v * mult)
	return nil
}

// envRef matches ${NAME} and ${NAME:-default}.
func (l *loader) expandString(n *yaml.Node, field, s string) string {
	if !strings.Contains(s, "${") {
		return s
	}
	var b bytes.Buffer
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			break
		}
		if i > 0 && s[i-1] == '$' {
			// $${ is a literal ${ (for shell snippets in args).
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		j := strings.Index(s[i:], "}")
		if j < 0 {
			l.addf(n, field, "unterminated ${ in %q", s)
			return s
		}
		b.WriteString(s[:i])
		ref := s[i+2 : i+j]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			l.addf(n, field, "${%s} is not a valid environment variable reference", ref)
		}
		v := l.getenv(name)
		if v == "" && hasDef {
			v = def
		} else if v == "" {
			l.addf(n, field, "environment variable %s is not set (write ${%s:-default} for a default)", name, name)
			// Keep the reference, so that the value is not also reported
			// as empty: one mistake, one problem.
			v = "${" + ref + "}"
		}
		b.WriteString(v)
		s = s[i+j+1:]
	}
	return b.String()
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// secretFileKeys are keys whose value is read from a file by writing
// `<key>_file: path` instead.
var secretFileKeys = map[string]bool{"secret": true, "password": true, "token": true}

// expand replaces ${VAR} in every scalar and `secret_file: path` (also
// password_file, token_file) by `secret: <contents>`, in place.
func (l *loader) expand(n *yaml.Node, field string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if v := l.expandString(n, field, n.Value); v != n.Value {
			n.Value = v
			if n.Style == 0 {
				// A plain ${PORT} resolves again as what it now holds.
				n.Tag = ""
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := joinField(field, k.Value)
			l.expand(v, sub)
			base, ok := strings.CutSuffix(k.Value, "_file")
			if !ok || !secretFileKeys[base] || v.Kind != yaml.ScalarNode {
				continue
			}
			data, err := os.ReadFile(l.relative(v.Value))
			k.Value = base
			if err != nil {
				l.addf(v, sub, "cannot read secret file: %v", err)
				// Not empty, so that it is not reported twice.
				data = []byte("(unreadable " + v.Value + ")")
			}
			v.Value = strings.TrimRight(string(data), "\r\n")
			v.Tag, v.Style = "!!str", yaml.DoubleQuotedStyle
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			l.expand(c, fmt.Sprintf("%s[%d]", field, i))
		}
	case yaml.DocumentNode, yaml.AliasNode:
		for _, c := range n.Content {
			l.expand(c, field)
		}
	}
}

func joinField(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

// fieldAtLine returns the dotted path of the value at line, for decoder
// errors that only give a line.
func fieldAtLine(n *yaml.Node, field string, line int, value string) string {
	if f := findField(n, field, line, value); f != "" || value == "" {
		return f
	}
	return findField(n, field, line, "")
}

// quotedValue returns the value yaml.v3 quotes in a type error
// ("cannot unmarshal !!str `forever` into ..."), or "".
func quotedValue(msg string) string {
	i := strings.Index(msg, "`")
	j := strings.LastIndex(msg, "`")
	if i < 0 || j <= i {
		return ""
	}
	return msg[i+1 : j]
}

// findField is fieldAtLine for the scalar with value (any value when "").
func findField(n *yaml.Node, field string, line int, value string) string {
	if n == nil {
		return ""
	}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			sub := joinField(field, k.Value)
			if f := findField(v, sub, line, value); f != "" {
				return f
			}
			if k.Line == line && value == "" {
				return sub
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if f := findField(c, fmt.Sprintf("%s[%d]", field, i), line, value); f != "" {
				return f
			}
		}
	case yaml.ScalarNode:
		if n.Line == line && (value == "" || strings.HasPrefix(n.Value, strings.TrimSuffix(value, "..."))) {
			return field
		}
	}
	return ""
}

// adminConfig is `admin: 127.0.0.1:8081` or `admin: {listen: ..., token: ..., hosts: [...]}`.
type adminConfig struct {
	Listen string             `yaml:"listen"`
	Token  string             `yaml:"token"`
	Tokens []adminTokenConfig `yaml:"tokens"`
	Hosts  []string           `yaml:"hosts"`
}

// UnmarshalYAML accepts the address alone or the mapping.
func (a *adminConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		a.Listen = n.Value
		return nil
	}
	type plain adminConfig
	return n.Decode((*plain)(a))
}

// MinAdminToken is the fewest characters an admin token may have: the
// token guards the console, the API (replay included) and every stored
// body, and a short one is guessed.
const MinAdminToken = 16

// checkAdminToken refuses a short admin token, naming its length but
// never its value.
func (l *loader) checkAdminToken(root *yaml.Node, token string) {
	if token == "" {
		return
	}
	for _, p := range l.problems {
		if p.Field == "admin.token" || p.Field == "admin.token_file" {
			return // ${VAR} unset or an unreadable token_file: one mistake, one problem
		}
	}
	if n := utf8.RuneCountInString(token); n < MinAdminToken {
		l.addf(findKey(findKey(root, "admin"), "token"), "admin.token", "is too short (%d of at least %d characters): use a long random token, such as one from openssl rand -hex 32", n, MinAdminToken)
	}
}
