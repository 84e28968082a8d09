package webhook

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/payload"
	"github.com/postbox/postbox/internal/tmpl"
)

// request is the one request the value tests render and evaluate over.
func testRequest(t *testing.T) *postbox.TemplateData {
	t.Helper()
	body := `{"ref":"refs/heads/main","n":42,"ok":true,"nothing":null,` +
		`"head_commit":{"id":"abc123","message":"fix: it"},` +
		`"commits":[{"id":"c1","author-name":"ann"},{"id":"c2"}],` +
		`"repository":{"full_name":"o/r","owner":{"name":"o"}},"my-key":"dash","if":"kw"}`
	payload, err := payload.Parse("application/json", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return &postbox.TemplateData{
		Payload: payload,
		Body:    body,
		Header:  http.Header{"X-Github-Event": {"push"}, "Content-Type": {"application/json"}},
		Query:   url.Values{"token": {"t0k"}, "multi": {"a", "b"}},
		Path:    map[string]string{},
		Vars:    map[string]any{"request_method": "POST", "remote_addr": "192.0.2.1:1234"},
	}
}

func TestValueTemplateRendersEverySourceAsWebhookPassesIt(t *testing.T) {
	data := testRequest(t)
	tests := []struct {
		name   string
		arg    argument
		tmpl   string
		render string
	}{
		{"a payload field", argument{Source: "payload", Name: "ref"}, `{{ .Payload.ref }}`, "refs/heads/main"},
		{"a nested payload field", argument{Source: "payload", Name: "repository.owner.name"}, `{{ .Payload.repository.owner.name }}`, "o"},
		{"a list element by its index", argument{Source: "payload", Name: "commits.1.id"}, `{{ index .Payload.commits 1 "id" }}`, "c2"},
		{"a key that is not a name", argument{Source: "payload", Name: "commits.0.author-name"}, `{{ index .Payload.commits 0 "author-name" }}`, "ann"},
		{"a top-level key that is not a name", argument{Source: "payload", Name: "my-key"}, `{{ index .Payload "my-key" }}`, "dash"},
		{"a number as its JSON text", argument{Source: "payload", Name: "n"}, `{{ .Payload.n }}`, "42"},
		{"a boolean", argument{Source: "payload", Name: "ok"}, `{{ .Payload.ok }}`, "true"},
		{"an absent field as empty", argument{Source: "payload", Name: "missing"}, `{{ .Payload.missing }}`, ""},
		{"a header, by any case of its name", argument{Source: "header", Name: "x-github-event"}, `{{ .Header.Get "X-Github-Event" }}`, "push"},
		{"an absent header as empty", argument{Source: "header", Name: "X-Nope"}, `{{ .Header.Get "X-Nope" }}`, ""},
		{"a query parameter (url)", argument{Source: "url", Name: "token"}, `{{ .Query.Get "token" }}`, "t0k"},
		{"a query parameter (query)", argument{Source: "query", Name: "token"}, `{{ .Query.Get "token" }}`, "t0k"},
		{"a literal string", argument{Source: "string", Name: "deploy now"}, `deploy now`, "deploy now"},
		{"a literal string with template braces", argument{Source: "string", Name: `{{ x }} "q"`}, `{{ "{{ x }} \"q\"" }}`, `{{ x }} "q"`},
		{"the raw body", argument{Source: "raw-request-body"}, `{{ .Body }}`, data.Body},
		{"the request method", argument{Source: "request", Name: "method"}, `{{ .Vars.request_method }}`, "POST"},
		{"the remote address", argument{Source: "request", Name: "Remote-Addr"}, `{{ .Vars.remote_addr }}`, "192.0.2.1:1234"},
		{"the entire query as JSON", argument{Source: "entire-query"}, `{{ json .Query }}`, `{"multi":["a","b"],"token":["t0k"]}`},
		{"the entire headers as JSON", argument{Source: "entire-headers"}, `{{ json .Header }}`, `{"Content-Type":["application/json"],"X-Github-Event":["push"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, _, problem := valueTemplate(tt.arg)
			if problem != "" {
				t.Fatalf("problem: %s", problem)
			}
			if src != tt.tmpl {
				t.Errorf("template = %s, want %s", src, tt.tmpl)
			}
			pt, err := tmpl.Parse("arg", src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := pt.Execute(data)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.render {
				t.Errorf("renders %q, want %q", got, tt.render)
			}
		})
	}
}

func TestEntirePayloadIsTheJSONOfThePayload(t *testing.T) {
	data := testRequest(t)
	src, _, _ := valueTemplate(argument{Source: "entire-payload"})
	pt, err := tmpl.Parse("arg", src)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pt.Execute(data)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, `{"commits":[{"author-name":"ann","id":"c1"}`) || !strings.Contains(got, `"n":42`) {
		t.Errorf("renders %s", got)
	}
}

func TestValueTemplateRefusesWhatItCannotExpress(t *testing.T) {
	for _, a := range []argument{
		{Source: "template", Name: "{{ .BodyText }}"},
		{Source: "request", Name: "host"},
		{Source: "context", Name: "x"},
		{Name: "no source"},
	} {
		if tmpl, _, problem := valueTemplate(a); problem == "" {
			t.Errorf("%+v: converted to %q, want a problem", a, tmpl)
		}
	}
}

func TestPayloadPathWritesExpressionAndPresenceGuard(t *testing.T) {
	tests := []struct{ name, expr, guard string }{
		{"ref", `payload.ref`, `has(payload.ref)`},
		{"head_commit.id", `payload.head_commit.id`, `has(payload.head_commit) && has(payload.head_commit.id)`},
		{"commits.0.id", `payload.commits[0].id`, `has(payload.commits) && size(payload.commits) > 0 && has(payload.commits[0].id)`},
		{"my-key", `payload["my-key"]`, `"my-key" in payload`},
		{"if", `payload["if"]`, `"if" in payload`},
	}
	for _, tt := range tests {
		expr, guard := payloadPath(tt.name)
		if expr != tt.expr || guard != tt.guard {
			t.Errorf("payloadPath(%q) = %s, %s; want %s, %s", tt.name, expr, guard, tt.expr, tt.guard)
		}
	}
}

// TestArrayRoot: webhook gives a JSON array body as {"root": [...]};
// postbox's payload is the array, so root.N is index N of it.
func TestArrayRoot(t *testing.T) {
	for _, tc := range []struct{ name, tmpl, expr string }{
		{"root", "{{ .Payload }}", "payload"},
		{"root.0.id", `{{ index .Payload 0 "id" }}`, "payload[0].id"},
		{"root.1", "{{ index .Payload 1 }}", "payload[1]"},
	} {
		if got := payloadTemplate(tc.name); got != tc.tmpl {
			t.Errorf("template of %s = %s, want %s", tc.name, got, tc.tmpl)
		}
		if got, _ := payloadPath(tc.name); got != tc.expr {
			t.Errorf("expression of %s = %s, want %s", tc.name, got, tc.expr)
		}
	}
}
