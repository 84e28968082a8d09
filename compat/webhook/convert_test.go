package webhook

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/config"
)

// hooksYAML is the YAML of the converted hooks alone.
func hooksYAML(r *Result) string {
	return string(encode(sequence(r.Hooks...)))
}

// mustParse loads the converted configuration as postbox would.
func mustParse(t *testing.T, r *Result) *config.Config {
	t.Helper()
	cfg, err := config.Parse("converted.yaml", r.YAML(), func(string) string { return "" })
	if err != nil {
		t.Fatalf("config.Parse refuses the converted configuration:\n%v\n%s", err, r.YAML())
	}
	return cfg
}

func TestHooksConvert(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "deploy.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		hooks    string // the hooks file; @DIR@ is a directory holding deploy.sh
		want     string // the converted hooks
		problems []string
	}{
		{"a bare hook takes any method and answers an empty 200",
			`[{"id": "simple", "execute-command": "/bin/echo"}]`, `
# webhook hook "simple"
- id: simple
  methods: [POST, GET, PUT, PATCH, DELETE, OPTIONS] # webhook took any method
  actions:
    - exec:
        command: /bin/echo
  response:
    body: ""
`, nil},
		{"a relative command runs from the working directory",
			`[{"id": "wd", "execute-command": "./deploy.sh", "command-working-directory": "@DIR@", "http-methods": ["post", " put ", "POST"]}]`, `
# webhook hook "wd"
- id: wd
  methods: [POST, PUT]
  actions:
    - exec:
        command: @DIR@/deploy.sh
        dir: @DIR@
  response:
    body: ""
`, nil},
		{"a bare command name not in the working directory is looked up in PATH",
			`[{"id": "wd", "execute-command": "echo", "command-working-directory": "@DIR@", "http-methods": ["GET"]}]`, `
# webhook hook "wd"
- id: wd
  methods: [GET]
  actions:
    - exec:
        command: echo
        dir: @DIR@
  response:
    body: ""
`, nil},
		{"arguments and environment from every source",
			`[{"id": "args", "execute-command": "/bin/echo", "http-methods": ["POST"],
			  "pass-arguments-to-command": [
				{"source": "payload", "name": "head_commit.id"}, {"source": "payload", "name": "commits.0.author-name"},
				{"source": "header", "name": "x-github-event"}, {"source": "url", "name": "token"},
				{"source": "string", "name": "--force"}, {"source": "request", "name": "method"},
				{"source": "request", "name": "remote-addr"}, {"source": "raw-request-body"},
				{"source": "entire-payload"}, {"source": "entire-headers"}, {"source": "entire-query"},
				{"source": "template", "name": "{{ .BodyText }}"}],
			  "pass-environment-to-command": [
				{"source": "payload", "name": "ref", "envname": "REF"}, {"source": "query", "name": "token"},
				{"source": "string", "name": "prod", "envname": "STAGE"}, {"source": "bogus", "name": "x"}]}]`, `
# webhook hook "args"
# NOT CONVERTED: pass-arguments-to-command[11]: source template is not converted: its template sees webhook's fields (.GetHeader, .BodyText, ...); rewrite it with postbox's (.Header.Get, .Body, .Payload, .Query); passed as ""
# NOT CONVERTED: pass-environment-to-command[3]: source "bogus" is not one webhook documents (header, url, payload, string, request, raw-request-body, entire-payload, entire-query, entire-headers); left out
- id: args
  methods: [POST]
  vars:
    request_method: method
    remote_addr: remote_addr
  actions:
    - exec:
        command: /bin/echo
        args:
          - "{{ .Payload.head_commit.id }}"
          - "{{ index .Payload.commits 0 \"author-name\" }}"
          - "{{ .Header.Get \"X-Github-Event\" }}"
          - "{{ .Query.Get \"token\" }}"
          - "--force"
          - "{{ .Vars.request_method }}"
          - "{{ .Vars.remote_addr }}"
          - "{{ .Body }}"
          - "{{ json .Payload }}"
          - "{{ json .Header }}"
          - "{{ json .Query }}"
          - ""
        env:
          REF: "{{ .Payload.ref }}"
          HOOK_token: "{{ .Query.Get \"token\" }}"
          STAGE: "prod"
  response:
    body: ""
`, []string{"pass-arguments-to-command[11]", "pass-environment-to-command[3]"}},
		{"response message, headers and success code",
			`[{"id": "resp", "execute-command": "/bin/echo", "http-methods": ["POST"], "response-message": "Deploying {{ now }} ${HOME}",
			  "success-http-response-code": 202, "response-headers": [{"name": "X-Deploy", "value": "yes"}, {"name": "Content-Type", "value": "text/x-log"}]}]`, `
# webhook hook "resp"
- id: resp
  methods: [POST]
  actions:
    - exec:
        command: /bin/echo
  response:
    status: 202
    body: "{{ \"Deploying {{ now }} $${HOME}\" }}"
    headers:
      X-Deploy: yes
      Content-Type: text/x-log
`, nil},
		{"command output in the response makes the hook sync",
			`[{"id": "out", "execute-command": "/bin/echo", "http-methods": ["POST"], "include-command-output-in-response": true, "response-message": "ignored, as by webhook"}]`, `
# webhook hook "out"
- id: out
  methods: [POST]
  mode: sync
  actions:
    - exec:
        command: /bin/echo
  response:
    error_status: 500
    body: "{{ if .Result.Err }}Error occurred while executing the hook's command. Please check your logs for more details.{{ else }}{{ .Result.Output }}{{ end }}"
`, nil},
		{"command output on error too",
			`[{"id": "out", "execute-command": "/bin/echo", "http-methods": ["POST"], "include-command-output-in-response": true,
			  "include-command-output-in-response-on-error": true, "success-http-response-code": 201}]`, `
# webhook hook "out"
- id: out
  methods: [POST]
  mode: sync
  actions:
    - exec:
        command: /bin/echo
  response:
    status: 201
    error_status: 500
    body: "{{ .Result.Output }}"
`, nil},
		{"a rule gets a second hook answering as webhook does when it is not met",
			`[{"id": "gh", "execute-command": "/bin/echo", "http-methods": ["POST"], "trigger-rule-mismatch-http-response-code": 409,
			  "trigger-rule": {"and": [` + sig256 + `, ` + refMain + `]}}]`, `
# webhook hook "gh"
- id: gh
  methods: [POST]
  auth:
    webhook_hmac:
      signatures:
        - {header: X-Hub-Signature-256, algorithm: sha256, secret: "s3cret"}
  when: payload.ref == "refs/heads/main"
  actions:
    - exec:
        command: /bin/echo
  response:
    body: ""
# Answers what hook "gh"'s rule refuses, as webhook did; stored, no action.
# Remove it to have postbox answer 422 instead.
- id: gh-unmatched
  path: /hooks/gh
  methods: [POST]
  auth:
    webhook_hmac:
      signatures:
        - {header: X-Hub-Signature-256, algorithm: sha256, secret: "s3cret"}
  when: "true"
  response: {status: 409, body: "Hook rules were not satisfied."}
# Answers requests without a signature for hook "gh", as webhook did; stored, no action.
- id: gh-unsigned
  path: /hooks/gh
  methods: [POST]
  when: '!("X-Hub-Signature-256" in header)'
  response: {status: 409, body: "Hook rules were not satisfied."}
`, nil},
		{"an ip allowlist leaves other addresses to the second hook",
			`[{"id": "lan", "execute-command": "/bin/echo", "http-methods": ["GET"], "trigger-rule": ` + ipLocal + `}]`, `
# webhook hook "lan"
- id: lan
  methods: [GET]
  auth:
    ip: {allow: [10.0.0.0/8, 192.0.2.1]}
  when: "true" # lets the next hook answer other addresses, as webhook did
  actions:
    - exec:
        command: /bin/echo
  response:
    body: ""
# Answers what hook "lan"'s rule refuses, as webhook did; stored, no action.
# Remove it to have postbox answer 422 instead.
- id: lan-unmatched
  path: /hooks/lan
  methods: [GET]
  response: {status: 200, body: "Hook rules were not satisfied."}
`, nil},
		{"an id postbox does not allow keeps its URL",
			`[{"id": "deploy:prod", "execute-command": "/bin/echo", "http-methods": ["POST"]}]`, `
# webhook hook "deploy:prod"
- id: deploy-prod
  path: /hooks/deploy:prod
  methods: [POST]
  actions:
    - exec:
        command: /bin/echo
  response:
    body: ""
`, nil},
		{"keys with no postbox equivalent are reported and marked; pass-file-to-command is files:",
			`[{"id": "misc", "execute-command": "/bin/echo", "http-methods": ["POST"], "incoming-payload-content-type": "application/json",
			  "trigger-signature-soft-failures": true, "pre-hook-command": "/bin/x",
			  "pass-file-to-command": [{"source": "payload", "name": "data", "base64decode": true}],
			  "parse-parameters-as-json": [{"source": "payload", "name": "data"}]}]`, `
# webhook hook "misc"
# NOT CONVERTED: incoming-payload-content-type: is not converted: postbox parses a body by the request's own Content-Type; have the sender send Content-Type: application/json
# NOT CONVERTED: pre-hook-command: is not a key this converter knows (pre-hook-command and stream-command-output of webhook's forks are not supported); not converted
- id: misc
  methods: [POST]
  actions:
    - exec:
        command: /bin/echo
        files:
          HOOK_DATA: "{{ base64decode (.Payload.data) }}"
  response:
    body: ""
`, []string{"incoming-payload-content-type", "pre-hook-command"}},
		{"status codes a response cannot have are reported",
			`[{"id": "codes", "execute-command": "/bin/echo", "http-methods": ["POST", "b@d"], "success-http-response-code": 101,
			  "trigger-rule": ` + refMain + `, "trigger-rule-mismatch-http-response-code": 100}]`, `
# webhook hook "codes"
# NOT CONVERTED: http-methods[1]: "b@d" is not an HTTP method; left out
# NOT CONVERTED: success-http-response-code: 101 is not converted: postbox answers with a final status (200 to 599); 200 is used
# NOT CONVERTED: trigger-rule-mismatch-http-response-code: 100 is not converted: postbox answers with a final status (200 to 599); 200 is used
- id: codes
  methods: [POST]
  when: payload.ref == "refs/heads/main"
  actions:
    - exec:
        command: /bin/echo
  response:
    status: 200
    body: ""
# Answers what hook "codes"'s rule refuses, as webhook did; stored, no action.
# Remove it to have postbox answer 422 instead.
- id: codes-unmatched
  path: /hooks/codes
  methods: [POST]
  response: {status: 200, body: "Hook rules were not satisfied."}
`, []string{"http-methods[1]", "success-http-response-code", "trigger-rule-mismatch-http-response-code"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Convert("hooks.json", []byte(strings.ReplaceAll(tt.hooks, "@DIR@", dir)))
			if err != nil {
				t.Fatal(err)
			}
			want := strings.TrimPrefix(strings.ReplaceAll(tt.want, "@DIR@", dir), "\n")
			if got := hooksYAML(res); got != want {
				t.Errorf("converted hooks:\n%s\nwant:\n%s", got, want)
			}
			var keys []string
			for _, p := range res.Problems {
				keys = append(keys, p.Key)
			}
			if !slices.Equal(keys, tt.problems) {
				t.Errorf("problems = %q, want %q", keys, tt.problems)
			}
			mustParse(t, res)
		})
	}
}

func TestLiteralTextComesThroughConfigUnchanged(t *testing.T) {
	msg := `Deploying {{ now }} ${HOME} $${X}`
	res, err := Convert("hooks.yaml", []byte("- id: lit\n  execute-command: /bin/echo\n  response-message: '"+msg+"'\n"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := mustParse(t, res)
	got, err := cfg.Hooks[0].Response.Body.Execute(&postbox.TemplateData{})
	if err != nil || got != msg {
		t.Errorf("response body = %q, %v; want %q", got, err, msg)
	}
}

// Keys, ids and the file name reach the comments of the output; whatever
// bytes they hold, the output stays YAML that reads back with the comment
// still saying which key it was about.
func TestCommentsEscapeWhatIsNotPrintable(t *testing.T) {
	tests := []struct {
		name, file, hooks, want string
	}{
		{"control character in a key", "hooks.json",
			"[{\"id\": \"0\", \"execute-command\": \"/bin/echo\", \"k\\u0001y\": 1}]", `NOT CONVERTED: k\x01y: is not a key`},
		{"newline in a key", "hooks.json",
			"[{\"id\": \"0\", \"execute-command\": \"/bin/echo\", \"a\\nlisten: 1.2.3.4:1\": 1}]", `NOT CONVERTED: a\nlisten: 1.2.3.4:1: is not a key`},
		{"NEL and line separator in a key", "hooks.json",
			"[{\"id\": \"0\", \"execute-command\": \"/bin/echo\", \"a\\u0085b\\u2028c\": 1}]", `NOT CONVERTED: a\u0085b\u2028c: is not a key`},
		{"bytes that are not UTF-8 in the file name", "hoo\xffks\r.json",
			`[{"id": "a", "execute-command": "/bin/echo"}]`, `converted from hoo\xffks\r.json`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Convert(tt.file, []byte(tt.hooks))
			if err != nil {
				t.Fatal(err)
			}
			out := string(res.YAML())
			if !strings.Contains(out, tt.want) {
				t.Errorf("the output does not say %q:\n%s", tt.want, out)
			}
			cfg := mustParse(t, res)
			if cfg.Listen != "0.0.0.0:9000" || len(cfg.Hooks) != 1 {
				t.Errorf("the comment leaked into the configuration: listen %s, %d hooks", cfg.Listen, len(cfg.Hooks))
			}
		})
	}
}

func TestTheConfigurationListensOnWebhooksPort(t *testing.T) {
	res, err := Convert("hooks.json", []byte(`[{"id": "a", "execute-command": "/bin/echo"}]`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg := mustParse(t, res); cfg.Listen != "0.0.0.0:9000" {
		t.Errorf("listen = %s", cfg.Listen)
	}
	if !strings.HasPrefix(string(res.YAML()), "# postbox configuration converted from hooks.json") {
		t.Errorf("no heading comment:\n%s", res.YAML())
	}
}

func TestHooksThatCannotBeServedAreSkippedAndReported(t *testing.T) {
	res, err := Convert("hooks.json", []byte(`[
		{"id": "a", "execute-command": "/bin/echo"},
		{"id": "a", "execute-command": "/bin/echo"},
		{"execute-command": "/bin/echo"},
		{"id": "with space", "execute-command": "/bin/echo"},
		"not a hook",
		{"id": "typed", "execute-command": "/bin/echo", "http-methods": "POST"},
		{"id": "noexec"}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range res.Problems {
		got = append(got, p.Format("hooks.json"))
	}
	want := []string{
		`hooks.json:3: hook "a": id: is already used on line 2; the hook is skipped (webhook refuses the whole file)`,
		`hooks.json:4: hook "#line 4": id: is missing; the hook is skipped (webhook cannot serve it either)`,
		`hooks.json:5: hook "with space": id: cannot be served at /hooks/with space by postbox (a path pattern cannot hold it); the hook is skipped: choose an id of letters, digits, _ . - and /`,
		`hooks.json:6: hook "#5": is not a mapping of keys (id, execute-command, ...); skipped`,
		`hooks.json:7: hook "typed": cannot be read: line 7: cannot unmarshal !!str ` + "`POST`" + ` into []string; skipped`,
		`hooks.json:8: hook "noexec": execute-command: is missing; the hook has no action (webhook could not run it either)`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if cfg := mustParse(t, res); len(cfg.Hooks) != 2 {
		t.Errorf("%d hooks, want a and noexec", len(cfg.Hooks))
	}
}

func TestHooksFilesInEveryForm(t *testing.T) {
	tests := []struct{ name, file string }{
		{"JSON indented with tabs", "[\n\t{\n\t\t\"id\": \"a\",\n\t\t\"execute-command\": \"/bin/echo\"\n\t}\n]\n"},
		{"YAML", "- id: a\n  execute-command: /bin/echo\n"},
		{"JSON with a key twice, which YAML refuses", `[{"id": "x", "id": "a", "execute-command": "/bin/echo"}]`},
		{"JSON with an escaped surrogate pair", `[{"id": "a", "execute-command": "/bin/echo", "response-message": "\ud83d\ude00"}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Convert("hooks", []byte(tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Problems) > 0 || len(res.Hooks) != 1 || get(res.Hooks[0], "id").Value != "a" {
				t.Errorf("problems %v, hooks:\n%s", res.Problems, hooksYAML(res))
			}
		})
	}
}

func TestFilesThatAreNoHooksListAreRefused(t *testing.T) {
	tests := []struct{ name, file, want string }{
		{"empty", "", "hooks.json: the file is empty"},
		{"a mapping", `{"id": "a"}`, "hooks.json:1: a hooks file is a list of hooks"},
		{"not YAML", "- id: [", "hooks.json: line 1: did not find expected node content"},
		{"a -template file", "- id: a\n  execute-command: {{ getenv \"CMD\"\n", "must be rendered first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Convert("hooks.json", []byte(tt.file))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestATemplateHookIsReportedWithAHint(t *testing.T) {
	res, err := Convert("hooks.yaml", []byte("- id: a\n  execute-command: {{ getenv \"CMD\" }}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) != 1 || !strings.Contains(res.Problems[0].Msg, "-template flag must be rendered first") {
		t.Errorf("problems: %v", res.Problems)
	}
}

func TestAddHooksKeepsTheConfigurationAsWritten(t *testing.T) {
	res, err := Convert("hooks.json", []byte(`[{"id": "a", "execute-command": "/bin/echo"}]`))
	if err != nil {
		t.Fatal(err)
	}
	base := "listen: 127.0.0.1:0 # here\nadmin: \"off\"\n"
	out, err := AddHooks([]byte(base), res.Hooks)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(out), base+"hooks:\n") {
		t.Errorf("got:\n%s", out)
	}
	cfg, err := config.Parse("postbox.yaml", out, func(string) string { return "" })
	if err != nil || cfg.Listen != "127.0.0.1:0" || len(cfg.Hooks) != 1 {
		t.Errorf("parse: %v, %+v", err, cfg)
	}
	if _, err := AddHooks([]byte("hooks:\n  - id: b\n"), res.Hooks); err == nil {
		t.Error("a configuration with hooks of its own was taken")
	}
}
