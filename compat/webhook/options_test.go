package webhook

import (
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox/config"
)

// convertOne converts hooks with opts and returns the configuration text,
// failing when it has problems or does not load.
func convertOne(t *testing.T, hooks string, opts Options) string {
	t.Helper()
	res, err := ConvertWith("hooks.json", []byte(hooks), opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) > 0 {
		t.Fatalf("problems: %v", res.Problems)
	}
	out := string(res.YAML())
	if _, err := config.Parse("converted.yaml", res.YAML(), func(string) string { return "" }); err != nil {
		t.Fatalf("config.Parse refuses the converted configuration:\n%v\n%s", err, out)
	}
	return out
}

func TestConvertOptionsAndGaps(t *testing.T) {
	tests := []struct {
		name, hooks string
		opts        Options
		want        []string // lines the output must hold
		not         []string // lines it must not
	}{
		{"an id with a slash is served at the same URL",
			`[{"id": "sendgrid/dir", "execute-command": "/bin/echo"}]`, Options{},
			[]string{"- id: sendgrid-dir", "path: /hooks/sendgrid/dir"}, nil},
		{"-urlprefix moves every hook",
			`[{"id": "a", "execute-command": "/bin/echo"}]`, Options{URLPrefix: "api/v1"},
			[]string{"path: /api/v1/a"}, nil},
		{"an empty -urlprefix serves hooks at /{id}",
			`[{"id": "a", "execute-command": "/bin/echo"}]`, Options{NoPrefix: true},
			[]string{"path: /a"}, nil},
		{"-http-methods is the default of hooks without http-methods",
			`[{"id": "a", "execute-command": "/bin/echo"}, {"id": "b", "execute-command": "/bin/echo", "http-methods": ["PUT"]}]`,
			Options{Methods: []string{"post", " get"}},
			[]string{"methods: [POST, GET]", "methods: [PUT]"}, []string{"webhook took any method"}},
		{"-header goes into every response, a hook's own header wins",
			`[{"id": "a", "execute-command": "/bin/echo", "response-headers": [{"name": "X-B", "value": "hook"}]}]`,
			Options{Headers: [][2]string{{"X-A", "1"}, {"X-B", "flag"}}},
			[]string{"X-A: \"1\"", "X-B: hook"}, []string{"X-B: flag"}},
		{"a command timeout bounds the command and the sync hook's answer",
			`[{"id": "a", "execute-command": "/bin/echo", "include-command-output-in-response": true}]`, Options{CommandTimeout: time.Hour},
			[]string{"    timeout: 1h0m0s", "        timeout: 1h0m0s"}, nil},
		{"postbox webhook gives commands the server's environment and finds them at run time",
			`[{"id": "a", "execute-command": "/nonexistent/deploy.sh"}]`, Options{Serve: true},
			[]string{"inherit_env: true", "lookup_at_run: true"}, nil},
		{"parse-parameters-as-json: references under the value read the decoded document",
			`[{"id": "slack", "execute-command": "/bin/echo", "parse-parameters-as-json": [{"source": "payload", "name": "payload"}],
			  "pass-arguments-to-command": [{"source": "payload", "name": "payload.user.name"}, {"source": "payload", "name": "payload"}],
			  "trigger-rule": {"not": {"match": {"type": "value", "value": "bot", "parameter": {"source": "payload", "name": "payload.user.name"}}}}}]`, Options{},
			[]string{`"{{ (fromjson (.Payload.payload)).user.name }}"`, `"{{ .Payload.payload }}"`,
				`when: '!(has(payload.payload) && has(fromJSON(payload.payload).user) && has(fromJSON(payload.payload).user.name) && fromJSON(payload.payload).user.name == "bot")'`}, nil},
		{"trigger-signature-soft-failures: the unsigned hook answers any request the signature refuses",
			`[{"id": "s", "execute-command": "/bin/echo", "trigger-signature-soft-failures": true, "trigger-rule": ` + sig256 + `}]`, Options{},
			[]string{"- id: s-unsigned"}, []string{`in header)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := convertOne(t, tt.hooks, tt.opts)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestMismatchCodeReportedOnce: the unmatched and unsigned hooks share the
// mismatch code, and a code that is not converted is reported once.
func TestMismatchCodeReportedOnce(t *testing.T) {
	res, err := Convert("hooks.json", []byte(`[{"id": "s", "execute-command": "/bin/echo", "trigger-rule-mismatch-http-response-code": 101,
	  "trigger-rule": {"and": [`+sig256+`, `+refMain+`]}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Problems) != 1 || res.Problems[0].Key != "trigger-rule-mismatch-http-response-code" {
		t.Errorf("problems = %v, want the mismatch code once", res.Problems)
	}
}

// TestServeArgumentsAsWebhook: under postbox webhook a payload argument
// is passed as webhook passes it, through param.
func TestServeArgumentsAsWebhook(t *testing.T) {
	out := convertOne(t, `[{"id": "a", "execute-command": "/bin/echo",
	  "parse-parameters-as-json": [{"source": "payload", "name": "payload"}],
	  "pass-arguments-to-command": [{"source": "payload", "name": "head_commit.id"}, {"source": "payload", "name": "root.0"},
	    {"source": "payload", "name": "payload.user.name"}, {"source": "header", "name": "X-A"}]}]`, Options{Serve: true})
	for _, w := range []string{`"{{ param .Payload \"head_commit.id\" }}"`, `"{{ param .Payload \"root.0\" }}"`,
		`"{{ param (fromjson (.Payload.payload)) \"user.name\" }}"`, `"{{ .Header.Get \"X-A\" }}"`} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %s:\n%s", w, out)
		}
	}
}
