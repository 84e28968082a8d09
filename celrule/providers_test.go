package celrule

import (
	"net/http"
	"net/url"
	"testing"
)

// Payloads shaped like those GitHub, Stripe and IFTTT send, trimmed to
// the fields the examples in docs/rules.md use.
const (
	githubPush = `{
  "ref": "refs/heads/main",
  "repository": {"full_name": "octo/lamp"},
  "pusher": {"name": "octocat"},
  "sender": {"login": "octocat"},
  "commits": [
    {"id": "a1", "added": [], "modified": ["docs/setup.md"], "removed": []},
    {"id": "b2", "added": ["main.go"], "modified": [], "removed": []}
  ]
}`
	githubPullRequest = `{
  "action": "closed",
  "number": 7,
  "pull_request": {"number": 7, "merged": true, "draft": false, "base": {"ref": "main"},
    "labels": [{"name": "deploy"}]},
  "repository": {"full_name": "octo/lamp"},
  "sender": {"login": "dependabot[bot]"}
}`
	stripeCheckout = `{
  "id": "evt_1", "object": "event", "type": "checkout.session.completed", "livemode": true,
  "data": {"object": {"object": "checkout.session", "payment_status": "paid", "amount_total": 2500,
    "currency": "eur", "customer_details": {"email": "ada@example.com"}, "metadata": {"plan": "pro"}}}
}`
	iftttRequest = `{"device": "Living room LAMP", "state": "on", "value1": "x", "value3": null}`
)

// TestProviderExamples is rule/'s test of the examples of docs/rules.md
// over payloads shaped like the providers', with the same answers.
func TestProviderExamples(t *testing.T) {
	githubHeader := func(event string) http.Header { return http.Header{"X-Github-Event": {event}} }
	tests := []struct {
		name    string
		src     string
		payload string
		header  http.Header
		query   url.Values
		want    any
	}{
		{"GitHub: a push to main", `header["X-GitHub-Event"] == "push" && payload.ref == "refs/heads/main"`, githubPush, githubHeader("push"), nil, true},
		{"GitHub: a push that changes docs/", `payload.commits.exists(c, (c.added + c.modified + c.removed).exists(f, f.startsWith("docs/")))`, githubPush, nil, nil, true},
		{"GitHub: a push is not a release tag", `payload.ref.matches(r"^refs/tags/v\d+\.\d+\.\d+$")`, githubPush, nil, nil, false},
		{"GitHub: the repository as a var", `payload.repository.full_name`, githubPush, nil, nil, "octo/lamp"},
		{"GitHub: a build, not a release", `payload.ref.startsWith("refs/tags/") ? "release" : "build"`, githubPush, nil, nil, "build"},
		{"GitHub: a pull request by a bot is refused", `header["X-GitHub-Event"] == "pull_request" && payload.action in ["opened", "reopened"] && !payload.sender.login.endsWith("[bot]")`, githubPullRequest, githubHeader("pull_request"), nil, false},
		{"GitHub: a merged pull request into main", `payload.action == "closed" && payload.pull_request.merged && payload.pull_request.base.ref == "main"`, githubPullRequest, nil, nil, true},
		{"GitHub: a pull request labelled deploy", `has(payload.pull_request) && payload.pull_request.labels.exists(l, l.name == "deploy")`, githubPullRequest, nil, nil, true},
		{"GitHub: a push is not a labelled pull request", `has(payload.pull_request) && payload.pull_request.labels.exists(l, l.name == "deploy")`, githubPush, nil, nil, false},
		{"GitHub: not a ping, not a draft", `header["X-GitHub-Event"] != "ping" && !(has(payload.pull_request) && payload.pull_request.draft)`, githubPullRequest, githubHeader("pull_request"), nil, true},
		{"GitHub: the pull request number as a string", `string(payload.pull_request.number)`, githubPullRequest, nil, nil, "7"},
		{"Stripe: a paid checkout in live mode", `payload.type == "checkout.session.completed" && payload.livemode && payload.data.object.payment_status == "paid"`, stripeCheckout, nil, nil, true},
		{"Stripe: a checkout is not an invoice", `payload.type.startsWith("invoice.")`, stripeCheckout, nil, nil, false},
		{"Stripe: the customer's email", `payload.data.object.customer_details.email`, stripeCheckout, nil, nil, "ada@example.com"},
		{"Stripe: the amount in units", `string(payload.data.object.amount_total / 100) + " " + payload.data.object.currency.upperAscii()`, stripeCheckout, nil, nil, "25 EUR"},
		{"Stripe: the plan from the metadata", `has(payload.data.object.metadata.plan) && payload.data.object.metadata.plan == "pro"`, stripeCheckout, nil, nil, true},
		{"IFTTT: the lamp, whatever the capitals", `payload.device.lowerAscii().contains("lamp") && payload.state in ["on", "off"]`, iftttRequest, nil, nil, true},
		{"IFTTT: the standard values with a null third", `has(payload.value1) && payload.value1 != "" && (!has(payload.value3) || payload.value3 == null || size(payload.value3) < 100)`, iftttRequest, nil, nil, true},
		{"IFTTT: a tag in the query", `query.source == "ifttt" && method == "POST"`, iftttRequest, nil, url.Values{"source": {"ifttt"}}, true},
		{"IFTTT: a default for a missing value", `has(payload.value2) ? payload.value2 : "default"`, iftttRequest, nil, nil, "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Eval(map[string]any{
				"payload": decode(t, tt.payload),
				"header":  tt.header,
				"query":   tt.query,
				"method":  "POST",
			})
			if err != nil {
				t.Fatal(err)
			}
			if !same(got, tt.want) {
				t.Errorf("Eval = %#v, want %#v", got, tt.want)
			}
		})
	}
}
