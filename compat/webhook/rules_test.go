package webhook

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/celrule"
	"gopkg.in/yaml.v3"
)

// convertRuleJSON converts a hook with the trigger rule r and returns its
// when:, its auth: as flow YAML, and the keys of the problems.
func convertRuleJSON(t *testing.T, r string) (when, auth string, problems []string) {
	t.Helper()
	res, err := Convert("hooks.json", []byte(`[{"id": "h", "execute-command": "/bin/echo", "trigger-rule": `+r+`}]`))
	if err != nil {
		t.Fatal(err)
	}
	h := res.Hooks[0]
	if w := get(h, "when"); w != nil {
		when = w.Value
	}
	if a := get(h, "auth"); a != nil {
		a = deepCopy(a)
		a.Style = yaml.FlowStyle
		auth = strings.TrimSpace(string(encode(a)))
	}
	for _, p := range res.Problems {
		problems = append(problems, p.Key)
	}
	return when, auth, problems
}

// match writes a match rule on a parameter.
func match(typ, field, value, source, name string) string {
	m := map[string]any{"type": typ, field: value, "parameter": map[string]string{"source": source, "name": name}}
	b, _ := json.Marshal(map[string]any{"match": m})
	return string(b)
}

func and(rs ...string) string { return `{"and": [` + strings.Join(rs, ",") + `]}` }
func or(rs ...string) string  { return `{"or": [` + strings.Join(rs, ",") + `]}` }
func not(r string) string     { return `{"not": ` + r + `}` }

var (
	refMain   = match("value", "value", "refs/heads/main", "payload", "ref")
	refDev    = match("value", "value", "refs/heads/dev", "payload", "ref")
	eventPush = match("value", "value", "push", "header", "x-github-event")
	tokenOK   = match("value", "value", "t0k", "url", "token")
	sig256    = `{"match": {"type": "payload-hmac-sha256", "secret": "s3cret", "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}`
	ipLocal   = `{"match": {"type": "ip-whitelist", "ip-range": "10.0.0.0/8 192.0.2.1"}}`
)

const hmac256 = `{webhook_hmac: {signatures: [{header: X-Hub-Signature-256, algorithm: sha256, secret: "s3cret"}]}}`

var sig1 = `{"match": {"type": "payload-hmac-sha1", "secret": "s", "parameter": {"source": "header", "name": "X-Hub-Signature"}}}`

func TestTriggerRulesConvert(t *testing.T) {
	tests := []struct {
		name, rule, when, auth string
		problems               []string
	}{
		{"value on a payload field", refMain, `payload.ref == "refs/heads/main"`, "", nil},
		{"value on a header, by its canonical name", eventPush, `header["X-Github-Event"] == "push"`, "", nil},
		{"value on a query parameter", tokenOK, `query["token"] == "t0k"`, "", nil},
		{"value that is a number compares the field's text",
			match("value", "value", "42", "payload", "repository.id"), `string(payload.repository.id) == "42"`, "", nil},
		{"value that is a boolean compares the field's text",
			match("value", "value", "true", "payload", "ok"), `string(payload.ok) == "true"`, "", nil},
		{"value on a list element",
			match("value", "value", "c1", "payload", "commits.0.id"), `payload.commits[0].id == "c1"`, "", nil},
		{"regex on a payload field",
			match("regex", "regex", "^refs/heads/(main|master)$", "payload", "ref"), `string(payload.ref).matches("^refs/heads/(main|master)$")`, "", nil},
		{"regex with backslashes is written raw",
			match("regex", "regex", `^\d+$`, "header", "X-Count"), `header["X-Count"].matches(r"^\d+$")`, "", nil},
		{"regex on the method", match("regex", "regex", "^(POST|PUT)$", "request", "method"), `method.matches("^(POST|PUT)$")`, "", nil},
		{"value on the remote address", match("value", "value", "192.0.2.1:1234", "request", "remote-addr"), `remote == "192.0.2.1:1234"`, "", nil},
		{"regex on the raw body", match("regex", "regex", "deploy", "raw-request-body", ""), `body.matches("deploy")`, "", nil},
		{"value on a literal string that matches is no condition", match("value", "value", "x", "string", "x"), "", "", nil},
		{"value on a literal string that does not match is false", match("value", "value", "y", "string", "x"), "false", "", nil},
		{"and", and(refMain, eventPush), `payload.ref == "refs/heads/main" && header["X-Github-Event"] == "push"`, "", nil},
		{"or", or(refMain, refDev), `payload.ref == "refs/heads/main" || payload.ref == "refs/heads/dev"`, "", nil},
		{"not guards the value, absent being no match", not(refDev), `!(has(payload.ref) && payload.ref == "refs/heads/dev")`, "", nil},
		{"nested and, or and not", and(refMain, or(eventPush, not(tokenOK))),
			`payload.ref == "refs/heads/main" && (header["X-Github-Event"] == "push" || !("token" in query && query["token"] == "t0k"))`, "", nil},
		{"and under or is parenthesised", or(and(refMain, eventPush), tokenOK),
			`(payload.ref == "refs/heads/main" && header["X-Github-Event"] == "push") || query["token"] == "t0k"`, "", nil},
		{"an empty and is always true", `{"and": []}`, "", "", nil},
		{"an empty or is always false", `{"or": []}`, "false", "", nil},
		{"a rule with no kind is false, as in webhook", `{}`, "false", "", nil},
		{"payload-hmac-sha256 alone is auth, letting the unsigned hook answer", sig256, "true", hmac256, nil},
		{"payload-hmac-sha1 on GitHub's header is webhook_hmac (prefix optional)", sig1,
			"true", `{webhook_hmac: {signatures: [{header: X-Hub-Signature, algorithm: sha1, secret: "s"}]}}`, nil},
		{"payload-hmac-sha512 on another header", `{"match": {"type": "payload-hmac-sha512", "secret": "s", "parameter": {"source": "header", "name": "X-Signature"}}}`,
			"true", `{webhook_hmac: {signatures: [{header: X-Signature, algorithm: sha512, secret: "s"}]}}`, nil},
		{"deprecated payload-hash-sha256 is the same check", strings.Replace(sig256, "hmac", "hash", 1), "true", hmac256, nil},
		{"an or of signatures is one webhook_hmac taking any of them", or(sig1, sig256),
			"true", `{webhook_hmac: {signatures: [{header: X-Hub-Signature, algorithm: sha1, secret: "s"}, {header: X-Hub-Signature-256, algorithm: sha256, secret: "s3cret"}]}}`, nil},
		{"an or of signatures under a top-level and, with a condition", and(or(sig1, sig256), refMain),
			`payload.ref == "refs/heads/main"`, `{webhook_hmac: {signatures: [{header: X-Hub-Signature, algorithm: sha1, secret: "s"}, {header: X-Hub-Signature-256, algorithm: sha256, secret: "s3cret"}]}}`, nil},
		{"an or of signatures none of which converts fails closed",
			or(`{"match": {"type": "payload-hmac-sha1", "secret": "s", "parameter": {"source": "url", "name": "sig"}}}`),
			"false", "", []string{"trigger-rule.or[0].match.parameter.source"}},
		{"ip-whitelist alone is auth, with a condition that lets the unmatched hook answer others", ipLocal,
			"true", `{ip: {allow: [10.0.0.0/8, 192.0.2.1]}}`, nil},
		{"signature, ip and values under a top-level and", and(sig256, and(ipLocal, refMain)),
			`payload.ref == "refs/heads/main"`, `{webhook_hmac: {signatures: [{header: X-Hub-Signature-256, algorithm: sha256, secret: "s3cret"}]}, ip: {allow: [10.0.0.0/8, 192.0.2.1]}}`, nil},

		{"a signature under or is reported and fails closed", or(sig256, tokenOK), `query["token"] == "t0k"`, "", []string{"trigger-rule.or[0].match"}},
		{"a signature under not is reported and fails closed", and(refMain, not(sig256)), "false", "", []string{"trigger-rule.and[1].not.match"}},
		{"ip-whitelist under or is reported", or(ipLocal, tokenOK), `query["token"] == "t0k"`, "", []string{"trigger-rule.or[0].match"}},
		{"a second signature is reported", and(sig256, sig256), "false", hmac256, []string{"trigger-rule.and[1].match"}},
		{"a signature from the query is reported", `{"match": {"type": "payload-hmac-sha1", "secret": "s", "parameter": {"source": "url", "name": "sig"}}}`,
			"false", "", []string{"trigger-rule.match.parameter.source"}},
		{"a signature without a secret is reported", `{"match": {"type": "payload-hmac-sha1", "parameter": {"source": "header", "name": "X-Sig"}}}`,
			"false", "", []string{"trigger-rule.match.secret"}},
		{"headers added to the signed payload are reported",
			`{"match": {"type": "payload-hmac-sha1", "secret": "s", "parameter": {"source": "header", "name": "X-Sig", "headers-to-add-to-signature-payload": ["Date"]}}}`,
			"false", "", []string{"trigger-rule.match.parameter.headers-to-add-to-signature-payload"}},
		{"scalr-signature is reported", `{"match": {"type": "scalr-signature", "secret": "k"}}`, "false", "", []string{"trigger-rule.match.type"}},
		{"an unknown match type is reported", match("glob", "value", "x", "payload", "ref"), "false", "", []string{"trigger-rule.match.type"}},
		{"an invalid regex is reported", match("regex", "regex", "(", "payload", "ref"), "false", "", []string{"trigger-rule.match.regex"}},
		{"an invalid ip range is reported", `{"match": {"type": "ip-whitelist", "ip-range": "10.0.0.300/8"}}`, "false", "", []string{"trigger-rule.match.ip-range"}},
		{"matching the entire payload is reported", match("value", "value", "{}", "entire-payload", ""), "false", "", []string{"trigger-rule.match.parameter"}},
		{"an unknown rule key is reported", `{"nand": []}`, "false", "", []string{"trigger-rule.nand"}},
		{"a failing part under not fails closed as true", not(and(refMain, match("glob", "value", "x", "payload", "ref"))),
			`!(has(payload.ref) && payload.ref == "refs/heads/main")`, "", []string{"trigger-rule.not.and[1].match.type"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			when, auth, problems := convertRuleJSON(t, tt.rule)
			if when != tt.when {
				t.Errorf("when:\n got %s\nwant %s", when, tt.when)
			}
			if auth != tt.auth {
				t.Errorf("auth:\n got %s\nwant %s", auth, tt.auth)
			}
			if !slices.Equal(problems, tt.problems) {
				t.Errorf("problems = %q, want %q", problems, tt.problems)
			}
			if when != "" {
				if _, err := celrule.CompileBool(when); err != nil {
					t.Errorf("when does not compile: %v", err)
				}
			}
		})
	}
}

// TestConditionsDecideAsWebhookDoes evaluates converted rules over requests
// and compares with what webhook decides for them: an absent value does
// not match, so that a not over it holds.
func TestConditionsDecideAsWebhookDoes(t *testing.T) {
	main := testRequest(t)
	other := testRequest(t)
	other.Payload.(map[string]any)["ref"] = "refs/heads/dev"
	empty := testRequest(t)
	empty.Payload = map[string]any{}
	empty.Header = map[string][]string{}
	empty.Query = map[string][]string{}
	text := testRequest(t)
	text.Payload = "just text"
	requests := []struct {
		name string
		data *postbox.TemplateData
	}{{"main", main}, {"dev", other}, {"empty", empty}, {"text body", text}}

	tests := []struct {
		rule string
		want []bool // for main, dev, empty, text body
	}{
		{refMain, []bool{true, false, false, false}},
		{not(refMain), []bool{false, true, true, false}},
		{not(eventPush), []bool{false, false, true, false}},
		{not(tokenOK), []bool{false, false, true, false}},
		{and(refMain, eventPush), []bool{true, false, false, false}},
		{or(refMain, tokenOK), []bool{true, true, false, true}},
		{or(refDev, not(refMain)), []bool{false, true, true, false}},
		{not(or(refMain, refDev)), []bool{false, false, true, false}},
		{not(not(refMain)), []bool{true, false, false, false}},
		{match("value", "value", "42", "payload", "n"), []bool{true, true, false, false}},
		{match("value", "value", "c2", "payload", "commits.1.id"), []bool{true, true, false, false}},
		{not(match("value", "value", "c9", "payload", "commits.5.id")), []bool{true, true, true, false}},
		{match("regex", "regex", "^refs/heads/", "payload", "ref"), []bool{true, true, false, false}},
		{match("regex", "regex", "^4", "payload", "n"), []bool{true, true, false, false}},
		{match("value", "value", "POST", "request", "method"), []bool{true, true, true, true}},
	}
	for _, tt := range tests {
		when, _, problems := convertRuleJSON(t, tt.rule)
		if len(problems) > 0 {
			t.Fatalf("%s: problems %q", tt.rule, problems)
		}
		prog, err := celrule.CompileBool(when)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		for i, r := range requests {
			got, err := prog.EvalBool(postbox.Env(r.data, "POST", "192.0.2.1:1234"))
			if err != nil {
				got = false // an error is no match, as config's hooks treat it
			}
			// The text body is where postbox and webhook differ: webhook
			// had no payload to fail on; see docs/migrating-from-webhook.md.
			if got != tt.want[i] {
				t.Errorf("%s on %s = %v (err %v), want %v", when, r.name, got, err, tt.want[i])
			}
		}
	}
}
