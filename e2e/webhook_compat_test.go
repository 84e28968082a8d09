package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"hash"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startWebhook writes files (name → content; @DIR@ stands for the
// directory) into a new temporary directory and runs `postbox webhook`
// there with args, on a free loopback port, admin off, JSON logs. env is
// added to the process's environment. The server is stopped when the test
// ends.
func startWebhook(t *testing.T, files map[string]string, env []string, args ...string) *server {
	t.Helper()
	s := newServer(t, "")
	for name, content := range files {
		content = strings.ReplaceAll(content, "@DIR@", s.dir)
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s.startWith(env, append([]string{"webhook", "-ip", "127.0.0.1", "-port", "0", "-verbose",
		"--admin", "off", "--log-format", "json", "--grace", "5s"}, args...)...)
	return s
}

// startWith runs the binary with args and waits for its "ready" line.
func (s *server) startWith(env []string, args ...string) {
	t := s.t
	t.Helper()
	from := s.logs.len()
	cmd := postboxCommand(context.Background(), args...)
	cmd.Dir = s.dir
	cmd.Env = append(baseEnv(), env...)
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start postbox %s: %v", strings.Join(args, " "), err)
	}
	exited := make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	ready, err := s.logs.waitFrom(from, 15*time.Second, exited, func(r record) bool { return r["msg"] == "ready" })
	if err != nil {
		t.Fatalf("postbox %s did not get ready: %v\nlog:\n%s", strings.Join(args, " "), err, s.logs.String())
	}
	s.addr, _ = ready["addr"].(string)
	s.url = "http://" + s.addr
}

func hexHMAC(newHash func() hash.Hash, secret, body string) string {
	m := hmac.New(newHash, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// webhookHooks are hooks written from adnanh/webhook's documented hook
// definition and its examples (GitHub, GitLab, Bitbucket-style IP
// allowlists, XML, JSON arrays, an id with a slash), in our own words.
const webhookHooks = `[
  {
    "id": "github",
    "execute-command": "/bin/echo",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [
      {"source": "payload", "name": "head_commit.id"},
      {"source": "payload", "name": "pusher.name"},
      {"source": "header", "name": "X-GitHub-Event"}
    ],
    "trigger-rule-mismatch-http-response-code": 400,
    "trigger-rule": {"and": [
      {"or": [
        {"match": {"type": "payload-hmac-sha1", "secret": "octo", "parameter": {"source": "header", "name": "X-Hub-Signature"}}},
        {"match": {"type": "payload-hmac-sha256", "secret": "octo", "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}}
      ]},
      {"match": {"type": "value", "value": "refs/heads/main", "parameter": {"source": "payload", "name": "ref"}}}
    ]}
  },
  {
    "id": "soft",
    "execute-command": "/bin/echo",
    "response-message": "ran",
    "trigger-signature-soft-failures": true,
    "trigger-rule": {"match": {"type": "payload-hmac-sha256", "secret": "octo", "parameter": {"source": "header", "name": "X-Signature"}}}
  },
  {
    "id": "gitlab",
    "execute-command": "/bin/echo",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [{"source": "payload", "name": "user_name"}],
    "trigger-rule": {"match": {"type": "value", "value": "glsecret", "parameter": {"source": "header", "name": "X-Gitlab-Token"}}}
  },
  {
    "id": "lan",
    "execute-command": "/bin/echo",
    "response-message": "from the lan",
    "trigger-rule": {"match": {"type": "ip-whitelist", "ip-range": "127.0.0.0/8"}}
  },
  {
    "id": "wan",
    "execute-command": "/bin/echo",
    "response-message": "from the wan",
    "trigger-rule": {"match": {"type": "ip-whitelist", "ip-range": "192.0.2.0/24"}}
  },
  {
    "id": "xml",
    "execute-command": "/bin/echo",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [{"source": "payload", "name": "app.messages.message.#text"}],
    "trigger-rule": {"match": {"type": "value", "value": "Ann", "parameter": {"source": "payload", "name": "app.users.user.0.-name"}}}
  },
  {
    "id": "array",
    "execute-command": "/bin/echo",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [{"source": "payload", "name": "root.1.id"}]
  },
  {
    "id": "sendgrid/dir",
    "execute-command": "/bin/echo",
    "response-message": "with a slash"
  },
  {
    "id": "raw",
    "execute-command": "/bin/echo",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [{"source": "raw-request-body"}, {"source": "string", "name": "literal"}, {"source": "url", "name": "q"}]
  },
  {
    "id": "missing",
    "execute-command": "/nonexistent/deploy.sh",
    "include-command-output-in-response": true
  },
  {
    "id": "missing-async",
    "execute-command": "/nonexistent/deploy.sh",
    "response-message": "started"
  },
  {
    "id": "env",
    "execute-command": "/bin/sh",
    "include-command-output-in-response": true,
    "pass-arguments-to-command": [{"source": "string", "name": "-c"}, {"source": "string", "name": "echo \"$SERVER_VAR/$HOOK_state\""}],
    "pass-environment-to-command": [{"source": "payload", "name": "state"}]
  },
  {
    "id": "slack",
    "execute-command": "/bin/echo",
    "include-command-output-in-response": true,
    "parse-parameters-as-json": [{"source": "payload", "name": "payload"}],
    "pass-arguments-to-command": [{"source": "payload", "name": "payload.user.name"}],
    "trigger-rule": {"match": {"type": "value", "value": "deploy", "parameter": {"source": "payload", "name": "payload.actions.0.value"}}}
  },
  {
    "id": "rules",
    "execute-command": "./show.sh",
    "command-working-directory": "@DIR@",
    "include-command-output-in-response": true,
    "include-command-output-in-response-on-error": true,
    "pass-arguments-to-command": [{"source": "request", "name": "method"}, {"source": "entire-payload"}],
    "trigger-rule": {"and": [
      {"match": {"type": "payload-hmac-sha512", "secret": "s512", "parameter": {"source": "header", "name": "X-Signature-512"}}},
      {"match": {"type": "regex", "regex": "^v[0-9]+\\.[0-9]+$", "parameter": {"source": "payload", "name": "version"}}},
      {"not": {"match": {"type": "value", "value": "true", "parameter": {"source": "payload", "name": "draft"}}}}
    ]}
  },
  {
    "id": "code",
    "execute-command": "/bin/echo",
    "response-message": "created",
    "success-http-response-code": 201,
    "response-headers": [{"name": "X-Hook", "value": "code"}],
    "http-methods": ["PUT"]
  }
]`

// TestWebhookCompat drives `postbox webhook` with hooks written as for
// adnanh/webhook and checks what a client of webhook would see.
func TestWebhookCompat(t *testing.T) {
	s := startWebhook(t, map[string]string{"hooks.json": webhookHooks,
		"show.sh": "#!/bin/sh\necho \"$@\"\ncase \"$2\" in *fail*) exit 1;; esac\n"},
		[]string{"SERVER_VAR=from-server"}, "-hooks", "hooks.json")
	push := `{"ref": "refs/heads/main", "head_commit": {"id": "c0ffee"}, "pusher": {"name": "ann"}}`
	other := `{"ref": "refs/heads/dev", "head_commit": {"id": "c0ffee"}, "pusher": {"name": "ann"}}`
	sha1sig := func(body string) string { return hexHMAC(sha1.New, "octo", body) }
	sha256sig := func(body string) string { return hexHMAC(sha256.New, "octo", body) }
	deleted := `{"ref": "refs/heads/main", "head_commit": null, "pusher": {"name": "ann"}}`
	objectID := `{"ref": "refs/heads/main", "head_commit": {"id": {"sha": "1"}}, "pusher": {"name": "ann"}}`
	release, draft := `{"version":"v1.2"}`, `{"version":"v1.2","draft":true}`
	badVersion, failing := `{"version":"1.2"}`, `{"fail":true,"version":"v2.0"}`
	xmlBody := `<app><users><user id="1" name="Ann"/><user id="2" name="Bo"/></users><messages><message from="1">Hello!!</message></messages></app>`
	tests := []struct {
		name   string
		req    request
		status int
		body   string
		header map[string]string
	}{
		{"/ answers OK, as webhook does for health checks", request{method: "GET", path: "/"}, 200, "OK", nil},
		{"a bare-hex X-Hub-Signature is accepted", request{method: "POST", path: "/hooks/github",
			header: with(jsonType, "X-Hub-Signature", sha1sig(push), "X-Github-Event", "push"), body: push}, 200, "c0ffee ann push\n", nil},
		{"a sha1= X-Hub-Signature is accepted", request{method: "POST", path: "/hooks/github",
			header: with(jsonType, "X-Hub-Signature", "sha1="+sha1sig(push), "X-Github-Event", "push"), body: push}, 200, "c0ffee ann push\n", nil},
		{"the other signature of the or is accepted alone", request{method: "POST", path: "/hooks/github",
			header: with(jsonType, "X-Hub-Signature-256", "sha256="+sha256sig(push), "X-Github-Event", "push"), body: push}, 200, "c0ffee ann push\n", nil},
		{"a null head_commit (a deleted branch) passes \"\" and the command runs, as in webhook", request{method: "POST", path: "/hooks/github",
			header: with(jsonType, "X-Hub-Signature", sha1sig(deleted), "X-Github-Event", "push"), body: deleted}, 200, " ann push\n", nil},
		{"an object argument is passed as JSON", request{method: "POST", path: "/hooks/github",
			header: with(jsonType, "X-Hub-Signature", sha1sig(objectID), "X-Github-Event", "push"), body: objectID}, 200, `{"sha":"1"} ann push` + "\n", nil},
		{"a valid signature with the rule unmet answers the mismatch code", request{method: "POST", path: "/hooks/github",
			header: with(jsonType, "X-Hub-Signature", sha1sig(other)), body: other}, 400, "Hook rules were not satisfied.", nil},
		{"a missing signature answers the mismatch code, as webhook does", request{method: "POST", path: "/hooks/github",
			header: jsonType, body: push}, 400, "Hook rules were not satisfied.", nil},
		{"a wrong signature is answered as webhook does", request{method: "POST", path: "/hooks/github",
			header: with(jsonType, "X-Hub-Signature", sha1sig(other)), body: push}, 500, "Error occurred while evaluating hook rules.", nil},
		{"with soft failures a wrong signature is a rule not met", request{method: "POST", path: "/hooks/soft",
			header: with(jsonType, "X-Signature", "00"), body: push}, 200, "Hook rules were not satisfied.", nil},
		{"with soft failures a right signature runs the hook", request{method: "POST", path: "/hooks/soft",
			header: with(jsonType, "X-Signature", sha256sig(push)), body: push}, 200, "ran", nil},
		{"a header token matches", request{method: "POST", path: "/hooks/gitlab",
			header: with(jsonType, "X-Gitlab-Token", "glsecret"), body: `{"user_name": "bo"}`}, 200, "bo\n", nil},
		{"a wrong header token is a rule not met", request{method: "POST", path: "/hooks/gitlab",
			header: with(jsonType, "X-Gitlab-Token", "nope"), body: `{"user_name": "bo"}`}, 200, "Hook rules were not satisfied.", nil},
		{"an allowed address runs the hook", request{method: "POST", path: "/hooks/lan"}, 200, "from the lan", nil},
		{"another address is a rule not met", request{method: "POST", path: "/hooks/wan"}, 200, "Hook rules were not satisfied.", nil},
		{"an XML body is parsed: attributes and text", request{method: "POST", path: "/hooks/xml",
			header: map[string]string{"Content-Type": "application/xml"}, body: xmlBody}, 200, "Hello!!\n", nil},
		{"a JSON array body is root", request{method: "POST", path: "/hooks/array",
			header: jsonType, body: `[{"id": "a"}, {"id": "b"}]`}, 200, "b\n", nil},
		{"an id with a slash is served at its URL", request{method: "POST", path: "/hooks/sendgrid/dir"}, 200, "with a slash", nil},
		{"raw body, a string and a query value are passed", request{method: "POST", path: "/hooks/raw?q=qv",
			header: map[string]string{"Content-Type": "text/plain"}, body: "raw text"}, 200, "raw text literal qv\n", nil},
		{"an empty body to a JSON hook leaves the parameters missing", request{method: "POST", path: "/hooks/gitlab",
			header: with(jsonType, "X-Gitlab-Token", "glsecret")}, 200, "\n", nil},
		{"a missing command answers 500 at request time", request{method: "POST", path: "/hooks/missing"}, 500,
			"Error occurred while executing the hook's command. Please check your logs for more details.", nil},
		{"a missing command of an async hook answers its message", request{method: "POST", path: "/hooks/missing-async"}, 200, "started", nil},
		{"commands get the server's environment and pass-environment-to-command", request{method: "POST", path: "/hooks/env",
			header: jsonType, body: `{"state": "on"}`}, 200, "from-server/on\n", nil},
		{"parse-parameters-as-json decodes a form field for rules and arguments", request{method: "POST", path: "/hooks/slack",
			header: formType, body: "payload=" + url.QueryEscape(`{"user": {"name": "ann"}, "actions": [{"value": "deploy"}]}`)}, 200, "ann\n", nil},
		{"parse-parameters-as-json on a multipart field (Plex's webhooks)", request{method: "POST", path: "/hooks/slack",
			header: multi, body: "--xyz\r\nContent-Disposition: form-data; name=\"payload\"\r\n\r\n" +
				`{"user": {"name": "plex"}, "actions": [{"value": "deploy"}]}` + "\r\n--xyz\r\nContent-Disposition: form-data; name=\"thumb\"; filename=\"t.jpg\"\r\nContent-Type: image/jpeg\r\n\r\nJPEG\r\n--xyz--\r\n"},
			200, "plex\n", nil},
		{"parse-parameters-as-json: a decoded value that does not match is a rule not met", request{method: "POST", path: "/hooks/slack",
			header: formType, body: "payload=" + url.QueryEscape(`{"user": {"name": "ann"}, "actions": [{"value": "other"}]}`)}, 200, "Hook rules were not satisfied.", nil},
		{"sha512 signature, regex and not hold: a relative command in its directory gets method and entire payload", request{method: "POST", path: "/hooks/rules",
			header: with(jsonType, "X-Signature-512", hexHMAC(sha512.New, "s512", release)), body: release}, 200, `POST {"version":"v1.2"}` + "\n", nil},
		{"not: a draft is a rule not met", request{method: "POST", path: "/hooks/rules",
			header: with(jsonType, "X-Signature-512", hexHMAC(sha512.New, "s512", draft)), body: draft}, 200, "Hook rules were not satisfied.", nil},
		{"regex: another version is a rule not met", request{method: "POST", path: "/hooks/rules",
			header: with(jsonType, "X-Signature-512", hexHMAC(sha512.New, "s512", badVersion)), body: badVersion}, 200, "Hook rules were not satisfied.", nil},
		{"a failing command's output is the answer with -on-error", request{method: "POST", path: "/hooks/rules",
			header: with(jsonType, "X-Signature-512", hexHMAC(sha512.New, "s512", failing)), body: failing}, 500, `POST {"fail":true,"version":"v2.0"}` + "\n", nil},
		{"success code and response headers", request{method: "PUT", path: "/hooks/code"}, 201, "created", map[string]string{"X-Hook": "code"}},
		{"http-methods refuses another method, without a body", request{method: "POST", path: "/hooks/code"}, 405, "", nil},
		{"an unknown hook is not found, in webhook's words", request{method: "POST", path: "/hooks/nope"}, 404, "Hook not found.", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := s.do(t, tt.req)
			if res.StatusCode != tt.status || tt.body != "" && body != tt.body {
				t.Errorf("%s %s = %d %q, want %d %q", tt.req.method, tt.req.path, res.StatusCode, body, tt.status, tt.body)
			}
			for k, v := range tt.header {
				if got := res.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
		})
	}
	t.Run("the command's output is in the log at info level", func(t *testing.T) {
		s.waitLog("the github hook's attempt with its output", func(r record) bool {
			return r["msg"] == "attempt" && r["hook"] == "github" && r["level"] == "INFO" && r["output"] == "c0ffee ann push\n"
		})
	})
	t.Run("every request that reached a hook is stored, the unmet ones too", func(t *testing.T) {
		if err := os.WriteFile(filepath.Join(s.dir, "postbox.yaml"), []byte("data: postbox-data\nadmin: off\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		hooks := map[string]int{}
		for _, d := range s.deliveries("--limit", "1000") {
			hooks[d.Hook]++
		}
		if hooks["github"] != 5 || hooks["slack"] != 2 || hooks["github-unmatched"] != 1 || hooks["github-unsigned"] != 1 || hooks["sendgrid-dir"] != 1 {
			t.Errorf("stored per hook: %v", hooks)
		}
	})
}
