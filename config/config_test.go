package config_test

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox/config"
)

// env is the environment every test resolves ${VAR} against.
var env = map[string]string{"LAMP_TOKEN": "from-env", "EMPTY": ""}

func getenv(name string) string { return env[name] }

// problems parses src as p.yaml and returns every problem as the line
// `postbox check` prints for it.
func problems(t *testing.T, src string) []string {
	t.Helper()
	cfg, err := config.Parse("p.yaml", []byte(src), getenv)
	if err == nil {
		t.Fatalf("Parse accepted the file:\n%s\nconfig: %+v", src, cfg)
	}
	var ps config.Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Parse returned %T %v, want config.Problems", err, err)
	}
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func parse(t *testing.T, src string) *config.Config {
	t.Helper()
	cfg, err := config.Parse("p.yaml", []byte(src), getenv)
	if err != nil {
		t.Fatalf("Parse:\n%v\nof:\n%s", err, src)
	}
	return cfg
}

// TestParseProblems checks the exact line `postbox check` prints for each
// mistake, and that the mistake is the only one reported.
func TestParseProblems(t *testing.T) {
	secrets := t.TempDir()
	missing := filepath.Join(secrets, "missing.txt")
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "an unknown top-level key names the nearest known one",
			src:  "listen: 127.0.0.1:8080\nlistn: 127.0.0.1:9090\nhooks:\n  - id: a\n",
			want: []string{`p.yaml:2: listn: unknown key (did you mean "listen"?)`},
		},
		{
			name: "an unknown hook key names the nearest known one",
			src:  "hooks:\n  - id: a\n    pth: /x\n",
			want: []string{`p.yaml:3: hooks[0].pth: unknown key (did you mean "path"?)`},
		},
		{
			name: "an unknown key inside an auth scheme names the nearest known one",
			src:  "hooks:\n  - id: a\n    auth:\n      token: {secret: x, heder: X-Key}\n",
			want: []string{`p.yaml:4: hooks[0] "a": auth.token.heder: unknown key (did you mean "header"?)`},
		},
		{
			name: "an unknown key inside an exec action names the nearest known one",
			src:  "hooks:\n  - id: a\n    actions:\n      - exec: {command: echo, arg: [x]}\n",
			want: []string{`p.yaml:4: hooks[0] "a": actions[0].exec.arg: unknown key (did you mean "args"?)`},
		},
		{
			name: "an unknown authentication method names the nearest known one",
			src:  "hooks:\n  - id: a\n    auth:\n      tokn: {secret: x}\n",
			want: []string{`p.yaml:4: hooks[0] "a": auth.tokn: unknown authentication method "tokn" (did you mean "token"?)`},
		},
		{
			name: "an unknown action kind names the nearest known one",
			src:  "hooks:\n  - id: a\n    actions:\n      - exc: {command: echo}\n",
			want: []string{`p.yaml:4: hooks[0] "a": actions[0].exc: unknown action kind "exc" (did you mean "exec"?) (one of: exec, http, mqtt)`},
		},
		{
			name: "a when: that does not compile names file, line and column",
			src:  "hooks:\n  - id: a\n    when: payload.ref == \"x\" && paylod.x\n",
			want: []string{`p.yaml:3: hooks[0] "a": when: column 23: undeclared reference to 'paylod' (did you mean "payload"?)`},
		},
		{
			name: "a var that misuses a declared type names file, line and column",
			src:  "hooks:\n  - id: a\n    vars:\n      n: method + 1\n",
			want: []string{`p.yaml:4: hooks[0] "a": vars.n: column 8: found no matching overload for '_+_' applied to '(string, int)'`},
		},
		{
			name: "a when: that is never a bool is refused",
			src:  "hooks:\n  - id: a\n    when: size(payload)\n",
			want: []string{`p.yaml:3: hooks[0] "a": when: column 1: a condition must be true or false, but this expression is of type int`},
		},
		{
			name: "a duplicate hook id names the hook that has it first",
			src:  "hooks:\n  - id: a\n    path: /x\n  - id: a\n    path: /y\n",
			want: []string{`p.yaml:4: hooks[1].id: hook id "a" is already used by hooks[0]`},
		},
		{
			name: "a duplicate path names the hook that has it first",
			src:  "hooks:\n  - id: a\n    path: /x\n  - id: b\n    path: /x\n",
			want: []string{`p.yaml:5: hooks[1].path: path /x is already used by hook "a"; hooks sharing a path must follow each other and all but the last need a when: condition`},
		},
		{
			name: "a path equal to another hook's default path is a duplicate",
			src:  "hooks:\n  - id: a\n    path: /hooks/b\n  - id: b\n",
			want: []string{`p.yaml:4: hooks[1].path: path /hooks/b is already used by hook "a"; hooks sharing a path must follow each other and all but the last need a when: condition`},
		},
		{
			name: "a path that is not a pattern says where it breaks",
			src:  "hooks:\n  - id: a\n    path: /x/{a\n",
			want: []string{`p.yaml:3: hooks[0].path: /x/{a is not a usable path pattern: at offset 3: bad wildcard segment (must end with '}')`},
		},
		{
			name: "a path with a method in front is refused",
			src:  "hooks:\n  - id: a\n    path: POST /x\n",
			want: []string{`p.yaml:3: hooks[0] "a": path: "POST /x" must start with / (a method or host is not allowed here; use methods:)`},
		},
		{
			name: "an empty token secret is named",
			src:  "hooks:\n  - id: a\n    auth:\n      token: {header: X-Key, secret: \"\"}\n",
			want: []string{`p.yaml:4: hooks[0] "a": auth.token.secret is empty`},
		},
		{
			name: "a token without a secret is named",
			src:  "hooks:\n  - id: a\n    auth:\n      token: {header: X-Key}\n",
			want: []string{`p.yaml:4: hooks[0] "a": auth.token.secret is empty`},
		},
		{
			name: "a basic password left out is named",
			src:  "hooks:\n  - id: a\n    auth:\n      basic: {username: u}\n",
			want: []string{`p.yaml:4: hooks[0] "a": auth.basic.password is empty`},
		},
		{
			name: "an unset environment variable is the one problem reported",
			src:  "hooks:\n  - id: a\n    auth:\n      token: {secret: \"${NOPE}\"}\n",
			want: []string{`p.yaml:4: hooks[0].auth.token.secret: environment variable NOPE is not set (write ${NOPE:-default} for a default)`},
		},
		{
			name: "an unterminated variable reference is named",
			src:  "hooks:\n  - id: a\n    auth:\n      token: {secret: \"${NOPE\"}\n",
			want: []string{`p.yaml:4: hooks[0].auth.token.secret: unterminated ${ in "${NOPE"`},
		},
		{
			name: "a missing secret file is the one problem reported",
			src:  fmt.Sprintf("hooks:\n  - id: a\n    auth:\n      token: {secret_file: %s}\n", missing),
			want: []string{fmt.Sprintf(`p.yaml:4: hooks[0].auth.token.secret_file: cannot read secret file: open %s: no such file or directory`, missing)},
		},
		{
			name: "a missing password file is the one problem reported",
			src:  fmt.Sprintf("hooks:\n  - id: a\n    auth:\n      basic:\n        username: u\n        password_file: %s\n", missing),
			want: []string{fmt.Sprintf(`p.yaml:6: hooks[0].auth.basic.password_file: cannot read secret file: open %s: no such file or directory`, missing)},
		},
		{
			name: "a response body that does not parse as a template is named",
			src:  "hooks:\n  - id: a\n    response: {body: \"{{ .Payload \"}\n",
			want: []string{`p.yaml:3: hooks[0] "a": response.body is not a valid template: response.body:1: unclosed action`},
		},
		{
			name: "a response body calling an unknown function is named",
			src:  "hooks:\n  - id: a\n    response: {body: \"{{ nope .Body }}\"}\n",
			want: []string{`p.yaml:3: hooks[0] "a": response.body is not a valid template: response.body:1: function "nope" not defined`},
		},
		{
			name: "a response body using an unknown field lists the fields templates have",
			src:  "hooks:\n  - id: a\n    response: {body: \"{{ .Paylod.x }}\"}\n",
			want: []string{`p.yaml:3: hooks[0] "a": response.body: refers to a field templates do not have: response.body:1:10: executing "response.body" at <.Paylod.x>: can't evaluate field Paylod in type *postbox.TemplateData (use .Payload, .Body, .Header, .Query, .Path, .Delivery.ID, .Delivery.Received, .Hook.ID)`},
		},
		{
			name: "an argument using an unknown field is named on its own line",
			src:  "hooks:\n  - id: a\n    actions:\n      - exec:\n          command: echo\n          args: [\"{{ .Bdy }}\"]\n",
			want: []string{`p.yaml:5: hooks[0] "a": actions[0].exec.args[0]: refers to a field templates do not have: args[0]:1:3: executing "args[0]" at <.Bdy>: can't evaluate field Bdy in type *postbox.TemplateData (use .Payload, .Body, .Header, .Query, .Path, .Delivery.ID, .Delivery.Received, .Hook.ID)`},
		},
		{
			name: "an environment value using an unknown field is named",
			src:  "hooks:\n  - id: a\n    actions:\n      - exec: {command: echo, env: {A: \"{{ .Nope }}\"}}\n",
			want: []string{`p.yaml:4: hooks[0] "a": actions[0].exec.env.A: refers to a field templates do not have: env.A:1:3: executing "env.A" at <.Nope>: can't evaluate field Nope in type *postbox.TemplateData (use .Payload, .Body, .Header, .Query, .Path, .Delivery.ID, .Delivery.Received, .Hook.ID)`},
		},
		{
			name: "an empty command is named",
			src:  "hooks:\n  - id: a\n    actions:\n      - exec: {args: [x]}\n",
			want: []string{`p.yaml:4: hooks[0] "a": actions[0].exec.command is empty`},
		},
		{
			name: "a command that is not executable is named",
			src:  "hooks:\n  - id: a\n    actions:\n      - exec: {command: /no/such/cmd}\n",
			want: []string{`p.yaml:4: hooks[0] "a": actions[0].exec.command: "/no/such/cmd" is not an executable file or not in PATH`},
		},
		{
			name: "a working directory that does not exist is named",
			src:  "hooks:\n  - id: a\n    actions:\n      - exec: {command: echo, dir: /no/such/dir}\n",
			want: []string{`p.yaml:4: hooks[0] "a": actions[0].exec.dir: "/no/such/dir" is not a directory`},
		},
		{
			name: "a status below 200 is refused",
			src:  "hooks:\n  - id: a\n    response: {status: 99}\n",
			want: []string{`p.yaml:3: hooks[0] "a": response.status: 99 is not an HTTP status from 200 to 599`},
		},
		{
			name: "a status above 599 is refused on its own line",
			src:  "hooks:\n  - id: a\n    response:\n      status: 600\n",
			want: []string{`p.yaml:4: hooks[0] "a": response.status: 600 is not an HTTP status from 200 to 599`},
		},
		{
			name: "a status that is not a number is refused",
			src:  "hooks:\n  - id: a\n    response:\n      status: ok\n",
			want: []string{"p.yaml:4: hooks[0].response.status: cannot unmarshal !!str `ok` into int"},
		},
		{
			name: "a method that is not a token is refused",
			src:  "hooks:\n  - id: a\n    methods: [POST, \"G T\"]\n",
			want: []string{`p.yaml:3: hooks[0] "a": methods[1]: "G T" is not an HTTP method`},
		},
		{
			name: "a method listed twice in any case is refused",
			src:  "hooks:\n  - id: a\n    methods: [post, POST]\n",
			want: []string{`p.yaml:3: hooks[0] "a": methods[1]: POST is listed twice`},
		},
		{
			name: "a server size that is not a size names its own line and field",
			src:  "limits:\n  max_body: 1 lightyear\nhooks:\n  - id: a\n",
			want: []string{`p.yaml:2: limits.max_body: "1 lightyear" is not a size (use a number of bytes or 512KiB, 1MiB, 10MB)`},
		},
		{
			name: "a negative server size names its own line and field",
			src:  "limits:\n  max_header_bytes: -5\nhooks:\n  - id: a\n",
			want: []string{`p.yaml:2: limits.max_header_bytes: "-5" is not a size (use a number of bytes or 512KiB, 1MiB, 10MB)`},
		},
		{
			name: "a hook size that is not a size names its own line and field",
			src:  "hooks:\n  - id: a\n    max_body: 10XB\n",
			want: []string{`p.yaml:3: hooks[0].max_body: "10XB" is not a size (use a number of bytes or 512KiB, 1MiB, 10MB)`},
		},
		{
			name: "a duration that is a word is refused",
			src:  "limits:\n  read_timeout: soon\nhooks:\n  - id: a\n",
			want: []string{"p.yaml:2: limits.read_timeout: cannot unmarshal !!str `soon` into time.Duration"},
		},
		{
			name: "a duration without a unit is refused",
			src:  "limits:\n  read_timeout: 10\nhooks:\n  - id: a\n",
			want: []string{"p.yaml:2: limits.read_timeout: cannot unmarshal !!int `10` into time.Duration"},
		},
		{
			name: "a bad duration in a flow mapping names its own field",
			src:  "limits: {max_body: 1MiB, read_timeout: soon}\nhooks:\n  - id: a\n",
			want: []string{"p.yaml:1: limits.read_timeout: cannot unmarshal !!str `soon` into time.Duration"},
		},
		{
			name: "a bad exec timeout on its own line names it",
			src:  "hooks:\n  - id: a\n    actions:\n      - exec:\n          command: echo\n          timeout: forever\n",
			want: []string{"p.yaml:6: hooks[0].actions[0].exec.timeout: cannot unmarshal !!str `forever` into time.Duration"},
		},
		{
			name: "a bad exec timeout in a flow mapping names it, not the command",
			src:  "hooks:\n  - id: a\n    actions:\n      - exec: {command: echo, timeout: forever}\n",
			want: []string{"p.yaml:4: hooks[0].actions[0].exec.timeout: cannot unmarshal !!str `forever` into time.Duration"},
		},
		{
			name: "a hook without an id is named",
			src:  "hooks:\n  - path: /x\n",
			want: []string{`p.yaml:2: hooks[0].id is required`},
		},
		{
			name: "an id with a space is the one problem reported",
			src:  "hooks:\n  - id: a b\n",
			want: []string{`p.yaml:2: hooks[0].id: "a b" may hold only letters, digits, '_', '.' and '-'`},
		},
		{
			name: "a file without hooks says so",
			src:  "listen: 127.0.0.1:8080\n",
			want: []string{`p.yaml: hooks: no hooks are configured`},
		},
		{
			name: "an empty file says so",
			src:  "",
			want: []string{`p.yaml: the file is empty`},
		},
		{
			name: "a file that is a list says what it must be",
			src:  "- a\n- b\n",
			want: []string{`p.yaml:1: the file must be a mapping of settings (listen:, hooks:, ...)`},
		},
		{
			name: "a YAML syntax error keeps its line",
			src:  "hooks:\n\t- id: a\n",
			want: []string{`p.yaml:2: found character that cannot start any token`},
		},
		{
			name: "a listen address without a port is refused",
			src:  "listen: localhost\nhooks:\n  - id: a\n",
			want: []string{`p.yaml:1: listen: "localhost" is not a host:port address: address localhost: missing port in address`},
		},
		{
			name: "an admin address that is neither host:port nor off is refused",
			src:  "admin: nope\nhooks:\n  - id: a\n",
			want: []string{`p.yaml:1: admin: "nope" is not a host:port address (or off): address nope: missing port in address`},
		},
		{
			name: "a negative worker count is refused",
			src:  "workers: -1\nhooks:\n  - id: a\n",
			want: []string{`p.yaml:1: workers must not be negative`},
		},
		{
			name: "a negative retry count is refused",
			src:  "hooks:\n  - id: a\n    retry: {attempts: -1}\n",
			want: []string{`p.yaml:3: hooks[0] "a": retry.attempts must not be negative`},
		},
		{
			name: "auth given as a list says what it must be",
			src:  "hooks:\n  - id: a\n    auth: [token]\n",
			want: []string{`p.yaml:3: hooks[0] "a": auth must be a mapping of method to settings, e.g. token: {secret: ...}`},
		},
		{
			name: "two action kinds in one item are refused",
			src:  "hooks:\n  - id: a\n    actions:\n      - exec: {command: echo}\n        exec2: {}\n",
			want: []string{`p.yaml:5: hooks[0] "a": actions[0].exec2: unknown action kind "exec2" (did you mean "exec"?) (one of: exec, http, mqtt)`},
		},
		{
			name: "every problem of a file is reported, in line order",
			src:  "listen: nope\nhooks:\n  - id: a\n    methods: [\"G T\"]\n  - id: a\n    path: /b\n    response: {status: 99}\n",
			want: []string{
				`p.yaml:1: listen: "nope" is not a host:port address: address nope: missing port in address`,
				`p.yaml:4: hooks[0] "a": methods[0]: "G T" is not an HTTP method`,
				`p.yaml:5: hooks[1].id: hook id "a" is already used by hooks[0]`,
				`p.yaml:7: hooks[1] "a": response.status: 99 is not an HTTP status from 200 to 599`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problems(t, tt.src)
			if !slices.Equal(got, tt.want) {
				t.Errorf("problems of\n%s\ngot:\n  %s\nwant:\n  %s", tt.src, strings.Join(got, "\n  "), strings.Join(tt.want, "\n  "))
			}
		})
	}
}

// TestParseProblemsAreOneLine covers messages whose exact wording is free
// but whose place and shape are not.
func TestParseProblemsAreOneLine(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		prefix string   // file:line: field
		has    []string // words the message must hold
	}{
		{
			name:   "an unknown key far from every known one lists the known keys",
			src:    "hooks:\n  - id: a\n    zzzzzzzz: /x\n",
			prefix: "p.yaml:3: hooks[0].zzzzzzzz: unknown key (known keys: ",
			has:    []string{"actions", "auth", "id", "methods", "path", "response"},
		},
		{
			name:   "conflicting path patterns are one line naming both patterns",
			src:    "hooks:\n  - id: a\n    path: /x/{a}\n  - id: b\n    path: /{b}/y\n",
			prefix: "p.yaml:5: hooks[1].path: ",
			has:    []string{"/{b}/y", "/x/{a}", "conflicts"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problems(t, tt.src)
			if len(got) != 1 {
				t.Fatalf("got %d problems, want 1:\n  %s", len(got), strings.Join(got, "\n  "))
			}
			p := got[0]
			if !strings.HasPrefix(p, tt.prefix) {
				t.Errorf("problem %q does not start with %q", p, tt.prefix)
			}
			for _, w := range tt.has {
				if !strings.Contains(p, w) {
					t.Errorf("problem %q does not mention %q", p, w)
				}
			}
			if strings.Contains(p, "\n") {
				t.Errorf("problem spans several lines, want one:\n%s", p)
			}
			if strings.Contains(p, ".go:") {
				t.Errorf("problem names Go source of postbox, which means nothing to a user:\n%s", p)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	cfg := parse(t, "hooks:\n  - id: lamp\n")
	if cfg.File != "p.yaml" {
		t.Errorf("File = %q, want p.yaml", cfg.File)
	}
	for _, c := range []struct{ name, got, want string }{
		{"listen", cfg.Listen, config.DefaultListen},
		{"admin", cfg.Admin, config.DefaultAdmin},
		{"data", cfg.Data, "postbox-data"}, // config.DefaultData beside p.yaml
		{"store", cfg.Store, ""},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if cfg.Workers != runtime.NumCPU() {
		t.Errorf("Workers = %d, want the number of CPUs, %d", cfg.Workers, runtime.NumCPU())
	}
	want := config.Limits{
		MaxBody:           1 << 20,
		MaxHeaderBytes:    64 << 10,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxInflight:       1024,
	}
	if cfg.Limits != want {
		t.Errorf("Limits = %+v, want %+v", cfg.Limits, want)
	}
	if len(cfg.Hooks) != 1 {
		t.Fatalf("got %d hooks, want 1", len(cfg.Hooks))
	}
	h := cfg.Hooks[0]
	if h.ID != "lamp" || h.Path != "/hooks/lamp" {
		t.Errorf("hook id %q path %q, want lamp at /hooks/lamp", h.ID, h.Path)
	}
	if !slices.Equal(h.Methods, []string{"POST"}) {
		t.Errorf("Methods = %v, want [POST]", h.Methods)
	}
	if h.MaxBody != 1<<20 {
		t.Errorf("MaxBody = %d, want the server's 1 MiB", h.MaxBody)
	}
	if len(h.Auth) != 0 || len(h.Actions) != 0 {
		t.Errorf("got %d auth checks and %d actions, want none", len(h.Auth), len(h.Actions))
	}
	if h.Response.Status != http.StatusOK || h.Response.Body != nil || len(h.Response.Header) != 0 {
		t.Errorf("Response = %+v, want 200 with no headers and no body template", h.Response)
	}
	if h.Retry.Attempts != 0 || h.Retry.Backoff != time.Second || h.Retry.MaxBackoff != 10*time.Minute {
		t.Errorf("Retry = %+v, want no retries, backoff 1s, max 10m", h.Retry)
	}
}

func TestParseValues(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secretFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`listen: 127.0.0.1:9000
admin: "off"
data: /var/lib/postbox
workers: 3
limits:
  max_body: 512KiB
  max_header_bytes: 10k
  read_header_timeout: 1s
  read_timeout: 2s
  write_timeout: 3s
  idle_timeout: 4s
hooks:
  - id: env
    path: /env/{name}
    methods: [get, post]
    max_body: 1MB
    auth:
      token: {header: X-Key, secret: "${LAMP_TOKEN}"}
    response:
      status: 202
      headers: {X-Answer: yes}
      body: "{{ .Path.name }}"
  - id: default
    auth:
      token: {secret: "${NOPE:-fallback}"}
  - id: empty-default
    auth:
      token: {secret: "${EMPTY:-used-when-empty}"}
  - id: file
    auth:
      token: {secret_file: %s}
  - id: basic
    max_body: 1048576
    auth:
      basic: {username: "${LAMP_TOKEN}", password: pw}
    actions:
      - exec: {command: echo, args: ["{{ .Hook.ID }}"]}
`, secretFile)
	cfg := parse(t, src)
	if cfg.Listen != "127.0.0.1:9000" || cfg.Admin != "off" || cfg.Data != "/var/lib/postbox" || cfg.Workers != 3 {
		t.Errorf("listen %q admin %q data %q workers %d", cfg.Listen, cfg.Admin, cfg.Data, cfg.Workers)
	}
	want := config.Limits{MaxBody: 512 << 10, MaxHeaderBytes: 10 << 10, ReadHeaderTimeout: time.Second,
		ReadTimeout: 2 * time.Second, WriteTimeout: 3 * time.Second, IdleTimeout: 4 * time.Second, MaxInflight: 1024}
	if cfg.Limits != want {
		t.Errorf("Limits = %+v, want %+v", cfg.Limits, want)
	}
	hooks := map[string]int{}
	for i, h := range cfg.Hooks {
		hooks[h.ID] = i
	}
	h := cfg.Hooks[hooks["env"]]
	if !slices.Equal(h.Methods, []string{"GET", "POST"}) {
		t.Errorf("Methods = %v, want [GET POST] in upper case", h.Methods)
	}
	if h.MaxBody != 1000*1000 {
		t.Errorf("env MaxBody = %d, want 1MB = 1000000", h.MaxBody)
	}
	if got := cfg.Hooks[hooks["basic"]].MaxBody; got != 1<<20 {
		t.Errorf("basic MaxBody = %d, want 1048576", got)
	}
	if got := cfg.Hooks[hooks["default"]].MaxBody; got != 512<<10 {
		t.Errorf("default MaxBody = %d, want the server's 512KiB", got)
	}
	if h.Response.Status != 202 || h.Response.Header.Get("X-Answer") != "yes" || h.Response.Body == nil {
		t.Errorf("Response = %+v, want 202 with X-Answer and a body", h.Response)
	}

	// The secrets resolved are the ones that let a request through.
	accepts := []struct {
		hook   string
		header string
		value  string
	}{
		{"env", "X-Key", "from-env"},
		{"env", "Authorization", "Bearer from-env"},
		{"default", "X-Token", "fallback"},
		{"empty-default", "X-Token", "used-when-empty"},
		{"file", "X-Token", "from-file"},
	}
	for _, a := range accepts {
		h := cfg.Hooks[hooks[a.hook]]
		if len(h.Auth) != 1 {
			t.Fatalf("hook %s has %d auth checks, want 1", a.hook, len(h.Auth))
		}
		r := httptest.NewRequest("POST", h.Path, nil)
		r.Header.Set(a.header, a.value)
		if err := h.Auth[0].Verify(r, nil); err != nil {
			t.Errorf("hook %s refused %s: %s: %v", a.hook, a.header, a.value, err)
		}
		r.Header.Set(a.header, a.value+"x")
		if err := h.Auth[0].Verify(r, nil); err == nil {
			t.Errorf("hook %s accepted a wrong %s", a.hook, a.header)
		}
	}
	b := cfg.Hooks[hooks["basic"]]
	r := httptest.NewRequest("POST", b.Path, nil)
	r.SetBasicAuth("from-env", "pw")
	if err := b.Auth[0].Verify(r, nil); err != nil {
		t.Errorf("basic refused the username from ${LAMP_TOKEN}: %v", err)
	}
	if len(b.Actions) != 1 || b.Actions[0].Kind() != "exec" {
		t.Errorf("basic has actions %v, want one exec", b.Actions)
	}
	if tm, ok := b.Actions[0].(interface{ Timeout() time.Duration }); !ok || tm.Timeout() != 30*time.Second {
		t.Errorf("exec action timeout is not the default 30s")
	}
}

func TestParseSizes(t *testing.T) {
	tests := []struct {
		name string
		size string
		want int64
	}{
		{"a plain number is bytes", "1048576", 1 << 20},
		{"KiB is 1024 bytes", "512KiB", 512 << 10},
		{"MiB is 1024 KiB", "2MiB", 2 << 20},
		{"GiB is 1024 MiB", "1GiB", 1 << 30},
		{"KB is 1000 bytes", "3KB", 3000},
		{"MB is a million bytes", "1MB", 1000 * 1000},
		{"k is 1024 bytes", "10k", 10 << 10},
		{"M is 1024 KiB", "1M", 1 << 20},
		{"B is one byte", "100B", 100},
		{"a space before the unit is allowed", "1 MiB", 1 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parse(t, fmt.Sprintf("limits: {max_body: %s}\nhooks:\n  - id: a\n", tt.size))
			if cfg.Limits.MaxBody != tt.want {
				t.Errorf("max_body %s = %d, want %d", tt.size, cfg.Limits.MaxBody, tt.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"), getenv)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load of a missing file = %v, want an error wrapping os.ErrNotExist", err)
	}
	var ps config.Problems
	if errors.As(err, &ps) {
		t.Errorf("Load of a missing file returned Problems %v, want a plain error", ps)
	}
}

func TestIPShorthandIsAnAllowList(t *testing.T) {
	cfg := parse(t, "hooks:\n  - id: a\n    auth:\n      ip: [10.0.0.0/8, 192.168.1.7]\n")
	if len(cfg.Hooks[0].Auth) != 1 {
		t.Fatalf("auth = %v", cfg.Hooks[0].Auth)
	}
	_, err := config.Parse("p.yaml", []byte("hooks:\n  - id: a\n    auth:\n      ip: [nonsense]\n"), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "p.yaml:4:") {
		t.Errorf("a bad CIDR in the shorthand: %v, want a problem on line 4", err)
	}
}
