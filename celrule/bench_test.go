package celrule

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// BenchmarkDocExamples evaluates the when: conditions of docs/rules.md's GitHub
// and Stripe sections. rule/, the implementation this package replaced, ran
// the same benchmark (see docs/performance.md).
var docExamples = []struct{ name, src, payload, event string }{
	{"github/push-to-main", `header["X-GitHub-Event"] == "push" && payload.ref == "refs/heads/main"`, githubPush, "push"},
	{"github/pr-opened-not-bot", `header["X-GitHub-Event"] == "pull_request" && payload.action in ["opened", "reopened"] && !payload.sender.login.endsWith("[bot]")`, githubPullRequest, "pull_request"},
	{"github/merged-into-main", `payload.action == "closed" && payload.pull_request.merged && payload.pull_request.base.ref == "main"`, githubPullRequest, "pull_request"},
	{"github/labelled-deploy", `has(payload.pull_request) && payload.pull_request.labels.exists(l, l.name == "deploy")`, githubPullRequest, "pull_request"},
	{"github/push-under-docs", `payload.commits.exists(c, (c.added + c.modified + c.removed).exists(f, f.startsWith("docs/")))`, githubPush, "push"},
	{"github/release-tag", `payload.ref.matches(r"^refs/tags/v\d+\.\d+\.\d+$")`, githubPush, "push"},
	{"github/not-ping-not-draft", `header["X-GitHub-Event"] != "ping" && !(has(payload.pull_request) && payload.pull_request.draft)`, githubPullRequest, "pull_request"},
	{"stripe/paid-checkout", `payload.type == "checkout.session.completed" && payload.livemode && payload.data.object.payment_status == "paid"`, stripeCheckout, ""},
	{"stripe/invoice", `payload.type.startsWith("invoice.")`, stripeCheckout, ""},
	{"stripe/large-eur-payment", `payload.type == "payment_intent.succeeded" && payload.data.object.currency == "eur" && payload.data.object.amount >= 100000`, stripeCheckout, ""},
	{"stripe/pro-subscription", `payload.type.startsWith("customer.subscription.") && has(payload.data.object.metadata.plan) && payload.data.object.metadata.plan == "pro"`, stripeCheckout, ""},
}

func BenchmarkDocExamples(b *testing.B) {
	for _, ex := range docExamples {
		p, err := CompileBool(ex.src)
		if err != nil {
			b.Fatal(err)
		}
		env := map[string]any{"payload": decode(b, ex.payload), "header": http.Header{"X-Github-Event": {ex.event}}, "method": "POST"}
		if _, err := p.EvalBool(env); err != nil {
			b.Fatal(ex.name, err)
		}
		b.Run(ex.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.EvalBool(env)
			}
		})
	}
}

// BenchmarkCompile compiles a typical condition, as config loading does.
func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := CompileBool(`payload.action == "opened" && header["X-Github-Event"] == "pull_request"`); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoops measures loops over a list of 10,000 elements, per
// element a loop's cost (cel-go's cost tracker, not used, would make it
// grow with the length of the list).
func BenchmarkLoops(b *testing.B) {
	list := make([]any, 10_000)
	for i := range list {
		list[i] = strings.Repeat("x", 10) + strconv.Itoa(i)
	}
	env := map[string]any{"payload": map[string]any{"list": list}}
	for _, src := range []string{`payload.list.exists(x, x == "y")`, `payload.list.all(x, x.startsWith("x"))`, `payload.list.map(x, x.size()).size()`} {
		p, err := Compile(src)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(src, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Eval(env); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
