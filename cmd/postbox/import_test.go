package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postbox/postbox/config"
)

// recorder is a command that writes its argv (NUL-separated) and $REF to
// the file $OUT, prints what it got, and fails when its first argument is
// "fail": a stand-in for a deploy script.
const recorder = `#!/bin/sh
for a in "$@"; do printf '%s\0' "$a"; done > "$OUT.tmp"
printf 'REF=%s\0' "$REF" >> "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "got $# arguments: $*"
[ "$1" != fail ]
`

// hooksJSON is a realistic hooks.json: a GitHub push-to-deploy hook with a
// signature and a branch condition, an IFTTT-style hook with a shared
// token, and a hook that answers with its command's output. @DIR@ is
// replaced by the test's directory.
const hooksJSON = `[
	{
		"id": "redeploy",
		"execute-command": "./rec.sh",
		"command-working-directory": "@DIR@",
		"response-message": "Deploying...",
		"pass-arguments-to-command": [
			{"source": "payload", "name": "head_commit.id"},
			{"source": "payload", "name": "pusher.name"},
			{"source": "payload", "name": "commits.0.message"},
			{"source": "header", "name": "x-github-event"},
			{"source": "string", "name": "--prod"}
		],
		"pass-environment-to-command": [
			{"source": "string", "envname": "OUT", "name": "@DIR@/deploy.out"},
			{"source": "payload", "envname": "REF", "name": "ref"}
		],
		"trigger-rule": {
			"and": [
				{"match": {"type": "payload-hmac-sha256", "secret": "mysecret",
				           "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}},
				{"match": {"type": "value", "value": "refs/heads/main",
				           "parameter": {"source": "payload", "name": "ref"}}}
			]
		}
	},
	{
		"id": "lamp",
		"execute-command": "@DIR@/rec.sh",
		"http-methods": ["POST"],
		"response-message": "SUCCESS",
		"pass-arguments-to-command": [{"source": "payload", "name": "state"}],
		"pass-environment-to-command": [{"source": "string", "envname": "OUT", "name": "@DIR@/lamp.out"}],
		"trigger-rule": {"match": {"type": "value", "value": "s3cret", "parameter": {"source": "header", "name": "X-Token"}}},
		"trigger-rule-mismatch-http-response-code": 403
	},
	{
		"id": "status",
		"execute-command": "@DIR@/rec.sh",
		"include-command-output-in-response": true,
		"pass-arguments-to-command": [{"source": "url", "name": "what"}],
		"pass-environment-to-command": [{"source": "string", "envname": "OUT", "name": "@DIR@/status.out"}]
	}
]`

// hooksFixture writes the recorder and hooks.json into a new directory.
func hooksFixture(t *testing.T, hooks string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rec.sh"), []byte(recorder), 0o755); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, "hooks.json")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(hooks, "@DIR@", dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

// notifyBuffer is a log sink that wakes waiters on every write.
type notifyBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{}
}

func (n *notifyBuffer) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.b.Write(p)
	select {
	case n.changed <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (n *notifyBuffer) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b.String()
}

// eventually polls cond until it holds or 10s passed.
func eventually(t *testing.T, what string, wake <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out waiting for %s", what)
		case <-tick.C:
		case <-wake:
		}
	}
}

// serveHooks runs `postbox serve --hooks` in-process with a --config that
// listens on a free loopback port, and returns its address.
func serveHooks(t *testing.T, dir, hooksPath string, extra ...string) (string, *notifyBuffer) {
	t.Helper()
	base := filepath.Join(dir, "base.yaml")
	text := "listen: 127.0.0.1:0\nadmin: \"off\"\ndata: " + filepath.Join(dir, "data") + "\n"
	if err := os.WriteFile(base, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := &notifyBuffer{changed: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := append([]string{"postbox", "serve", "--hooks", hooksPath, "--config", base, "--log-format", "json"}, extra...)
	go func() { done <- run(ctx, args, func(string) string { return "" }, io.Discard, logs) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve returned %v\n%s", err, logs.String())
		}
	})
	var addr string
	eventually(t, "the server to be ready", logs.changed, func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "ready" {
				addr = rec.Addr
			}
		}
		return addr != ""
	})
	return addr, logs
}

func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// call sends a request and returns the status and body.
func call(t *testing.T, method, url string, header map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// recorded waits for the recorder's file and returns argv and $REF.
func recorded(t *testing.T, path string) []string {
	t.Helper()
	var data []byte
	eventually(t, path, nil, func() bool {
		var err error
		data, err = os.ReadFile(path)
		return err == nil
	})
	return strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
}

func TestServeHooksBehavesAsWebhookDid(t *testing.T) {
	dir, hooks := hooksFixture(t, hooksJSON)
	addr, logs := serveHooks(t, dir, hooks)
	base := "http://" + addr + "/hooks/"
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	}()
	push := func(ref, id string) []byte {
		b, _ := json.Marshal(map[string]any{
			"ref": ref, "pusher": map[string]any{"name": "octocat"},
			"head_commit": map[string]any{"id": id},
			"commits":     []any{map[string]any{"message": `fix "quotes" $(touch ` + dir + `/pwned) ; echo no shell`}},
		})
		return b
	}
	github := func(body []byte, secret string) map[string]string {
		return map[string]string{"Content-Type": "application/json", "X-GitHub-Event": "push", "X-Hub-Signature-256": sign(secret, body)}
	}

	// A signed push to main runs the deploy with webhook's argv, no shell.
	body := push("refs/heads/main", "abc123")
	if code, got := call(t, "POST", base+"redeploy", github(body, "mysecret"), string(body)); code != 200 || got != "Deploying..." {
		t.Errorf("signed push to main: %d %q, want 200 Deploying...", code, got)
	}
	argv := recorded(t, filepath.Join(dir, "deploy.out"))
	want := []string{"abc123", "octocat", `fix "quotes" $(touch ` + dir + `/pwned) ; echo no shell`, "push", "--prod", "REF=refs/heads/main"}
	if !slices.Equal(argv, want) {
		t.Errorf("argv:\n got %q\nwant %q", argv, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Error("an argument was run by a shell")
	}

	// A signed push to another branch: rules not met, answered as webhook.
	body = push("refs/heads/dev", "dev999")
	if code, got := call(t, "POST", base+"redeploy", github(body, "mysecret"), string(body)); code != 200 || got != "Hook rules were not satisfied." {
		t.Errorf("push to dev: %d %q", code, got)
	}
	// webhook took any method: a signed GET with no body is unmet rules.
	get := map[string]string{"X-Hub-Signature-256": sign("mysecret", nil)}
	if code, got := call(t, "GET", base+"redeploy", get, ""); code != 200 || got != "Hook rules were not satisfied." {
		t.Errorf("GET: %d %q", code, got)
	}
	// A bad signature is refused; webhook answered 500 (see the migration guide).
	body = push("refs/heads/main", "evil")
	if code, _ := call(t, "POST", base+"redeploy", github(body, "wrong"), string(body)); code != 401 {
		t.Errorf("bad signature: %d, want 401", code)
	}

	// The IFTTT-style hook: token in a header, its own mismatch code.
	token := map[string]string{"Content-Type": "application/json", "X-Token": "s3cret"}
	if code, got := call(t, "POST", base+"lamp", token, `{"state": "on"}`); code != 200 || got != "SUCCESS" {
		t.Errorf("lamp: %d %q", code, got)
	}
	if argv := recorded(t, filepath.Join(dir, "lamp.out")); !slices.Equal(argv, []string{"on", "REF="}) {
		t.Errorf("lamp argv %q", argv)
	}
	token["X-Token"] = "guess"
	if code, got := call(t, "POST", base+"lamp", token, `{"state": "off"}`); code != 403 || got != "Hook rules were not satisfied." {
		t.Errorf("lamp with a wrong token: %d %q", code, got)
	}
	if code, _ := call(t, "GET", base+"lamp", nil, ""); code != 405 {
		t.Errorf("lamp GET: %d, want 405", code)
	}

	// Output in the response: the command's output, or webhook's 500.
	if code, got := call(t, "GET", base+"status?what=disk", nil, ""); code != 200 || got != "got 1 arguments: disk\n" {
		t.Errorf("status: %d %q", code, got)
	}
	if code, got := call(t, "POST", base+"status?what=fail", nil, ""); code != 500 ||
		got != "Error occurred while executing the hook's command. Please check your logs for more details." {
		t.Errorf("failing status: %d %q", code, got)
	}
	if code, _ := call(t, "POST", base+"nope", nil, ""); code != 404 {
		t.Errorf("unknown hook: %d, want 404", code)
	}
}

func TestServeHooksReloadsTheHooksFile(t *testing.T) {
	dir, hooks := hooksFixture(t, `[{"id": "a", "execute-command": "/bin/echo", "response-message": "A"}]`)
	addr, logs := serveHooks(t, dir, hooks, "--watch", "20ms")
	if code, got := call(t, "POST", "http://"+addr+"/hooks/a", nil, ""); code != 200 || got != "A" {
		t.Fatalf("a: %d %q", code, got)
	}
	// serve notes the file's version just after it logs "ready": a change
	// made in between would go unseen, so the file is written again, a byte
	// longer, every 300ms until a reload shows.
	write := func(n int) {
		b := []byte(`[{"id": "b", "execute-command": "/bin/echo", "response-message": "B"}]` + strings.Repeat(" ", n))
		if err := os.WriteFile(hooks, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(0)
	rewrite := time.NewTicker(300 * time.Millisecond)
	defer rewrite.Stop()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	for n := 1; !strings.Contains(logs.String(), "config reloaded"); {
		select {
		case <-deadline.C:
			t.Fatalf("no reload:\n%s", logs.String())
		case <-logs.changed:
		case <-rewrite.C:
			write(n)
			n++
		}
	}
	if code, got := call(t, "POST", "http://"+addr+"/hooks/b", nil, ""); code != 200 || got != "B" {
		t.Errorf("b after the reload: %d %q", code, got)
	}
}

func TestServeHooksRefusesWhatItCannotConvert(t *testing.T) {
	dir, hooks := hooksFixture(t, `[{"id": "f", "execute-command": "/bin/echo", "incoming-payload-content-type": "application/json"}]`)
	var stderr bytes.Buffer
	err := run(context.Background(), []string{"postbox", "serve", "--hooks", hooks, "--config", filepath.Join(dir, "none.yaml")},
		func(string) string { return "" }, io.Discard, &stderr)
	if exitCode(err) != 1 || !strings.Contains(stderr.String(), `hook "f": incoming-payload-content-type`) ||
		!strings.Contains(stderr.String(), "cannot be served as it is") {
		t.Errorf("err %v, stderr:\n%s", err, stderr.String())
	}
}

func TestServeHooksAloneListensWhereWebhookDid(t *testing.T) {
	_, hooks := hooksFixture(t, `[{"id": "a", "execute-command": "/bin/echo"}]`)
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.String("config", "postbox.yaml", "")
	cfg, err := hooksLoader(fs, hooks, "postbox.yaml", func(string) string { return "" })()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:9000" || cfg.Admin != config.DefaultAdmin || len(cfg.Hooks) != 1 || cfg.Hooks[0].Path != "/hooks/a" {
		t.Errorf("listen %s, admin %s, %d hooks", cfg.Listen, cfg.Admin, len(cfg.Hooks))
	}
}

func TestImport(t *testing.T) {
	dir, good := hooksFixture(t, hooksJSON)
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`[{"id": "f", "execute-command": "/bin/echo", "incoming-payload-content-type": "application/json"}]`), 0o644)
	// webhook's documented Travis CI and Scalr examples need what postbox
	// does not have.
	travis := filepath.Join(dir, "travis.json")
	os.WriteFile(travis, []byte(`[
		{"id": "deploy", "execute-command": "/bin/echo", "command-working-directory": "/",
		 "parse-parameters-as-json": [{"source": "payload", "name": "payload"}],
		 "trigger-rule": {"and": [
			{"match": {"type": "value", "value": "passed", "parameter": {"name": "payload.state", "source": "payload"}}},
			{"match": {"type": "value", "value": "master", "parameter": {"name": "payload.branch", "source": "payload"}}}]}},
		{"id": "scalr", "execute-command": "/bin/echo", "include-command-output-in-response": true,
		 "trigger-rule": {"match": {"type": "scalr-signature", "secret": "key"}},
		 "pass-environment-to-command": [{"envname": "EVENT_NAME", "source": "payload", "name": "eventName"}]}]`), 0o644)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   string // a line stdout must have
		stderr   string // what stderr must say ("" for nothing)
		loadable bool
	}{
		{"a file that converts entirely", []string{good}, 0, "  - id: redeploy-unmatched", "", true},
		{"a file with a key that does not convert", []string{bad}, 1, "  # NOT CONVERTED: incoming-payload-content-type: is not converted: postbox parses a body by the request's own Content-Type; have the sender send Content-Type: application/json",
			`bad.json:1: hook "f": incoming-payload-content-type: is not converted`, true},
		{"the documented Travis and Scalr examples", []string{travis}, 1, "    when: \"false\"",
			"travis.json:8: hook \"scalr\": trigger-rule.match.type: scalr-signature is not converted", true},
		{"a missing file", []string{filepath.Join(dir, "nope.json")}, 1, "", "no such file", false},
		{"no file", nil, 2, "", "Usage: postbox import FILE", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), append([]string{"postbox", "import"}, tt.args...), func(string) string { return "" }, &stdout, &stderr)
			code := 0
			if err != nil {
				var ee exitError
				if !errors.As(err, &ee) {
					t.Fatalf("error %v", err)
				}
				code = int(ee)
			}
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if tt.stdout != "" && !strings.Contains(stdout.String(), tt.stdout+"\n") {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, stdout.String())
			}
			if tt.stderr == "" && stderr.Len() > 0 || !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr:\n%s\nwant %q", stderr.String(), tt.stderr)
			}
			if tt.loadable {
				if _, err := config.Parse("out.yaml", stdout.Bytes(), func(string) string { return "" }); err != nil {
					t.Errorf("the output does not load: %v", err)
				}
			}
		})
	}
}

// examplesJSON follows the hook examples of webhook's documentation
// (docs/Hook-Examples.md), one hook per sender, with OUT added so that the
// recorder says where it ran.
const examplesJSON = `[
	{"id": "github", "execute-command": "./rec.sh", "command-working-directory": "@DIR@",
	 "pass-arguments-to-command": [
		{"source": "payload", "name": "head_commit.id"}, {"source": "payload", "name": "pusher.name"},
		{"source": "payload", "name": "pusher.email"}],
	 "pass-environment-to-command": [{"source": "string", "envname": "OUT", "name": "@DIR@/github.out"}],
	 "trigger-rule": {"and": [
		{"match": {"type": "payload-hash-sha1", "secret": "mysecret", "parameter": {"source": "header", "name": "X-Hub-Signature"}}},
		{"match": {"type": "value", "value": "refs/heads/master", "parameter": {"source": "payload", "name": "ref"}}}]}},
	{"id": "bitbucket", "execute-command": "@DIR@/rec.sh",
	 "pass-arguments-to-command": [{"source": "payload", "name": "actor.username"}],
	 "pass-environment-to-command": [{"source": "string", "envname": "OUT", "name": "@DIR@/bitbucket.out"}],
	 "trigger-rule": {"match": {"type": "ip-whitelist", "ip-range": "127.0.0.0/8"}}},
	{"id": "bitbucket-elsewhere", "execute-command": "@DIR@/rec.sh",
	 "trigger-rule": {"match": {"type": "ip-whitelist", "ip-range": "104.192.143.0/24"}}},
	{"id": "gitlab", "execute-command": "@DIR@/rec.sh", "response-message": "Executing redeploy script",
	 "pass-arguments-to-command": [{"source": "payload", "name": "user_name"}],
	 "pass-environment-to-command": [{"source": "string", "envname": "OUT", "name": "@DIR@/gitlab.out"}],
	 "trigger-rule": {"match": {"type": "value", "value": "gl-token", "parameter": {"source": "header", "name": "X-Gitlab-Token"}}}},
	{"id": "gogs", "execute-command": "@DIR@/rec.sh",
	 "pass-arguments-to-command": [{"source": "payload", "name": "head_commit.id"}],
	 "pass-environment-to-command": [{"source": "string", "envname": "OUT", "name": "@DIR@/gogs.out"}],
	 "trigger-rule": {"and": [
		{"match": {"type": "payload-hash-sha256", "secret": "mysecret", "parameter": {"source": "header", "name": "X-Gogs-Signature"}}},
		{"match": {"type": "value", "value": "refs/heads/master", "parameter": {"source": "payload", "name": "ref"}}}]}},
	{"id": "gitea", "execute-command": "@DIR@/rec.sh",
	 "pass-arguments-to-command": [{"source": "payload", "name": "pusher.email"}],
	 "pass-environment-to-command": [{"source": "string", "envname": "OUT", "name": "@DIR@/gitea.out"}],
	 "trigger-rule": {"and": [
		{"match": {"type": "value", "value": "mysecret", "parameter": {"source": "payload", "name": "secret"}}},
		{"match": {"type": "value", "value": "refs/heads/master", "parameter": {"source": "payload", "name": "ref"}}}]}},
	{"id": "slack", "execute-command": "@DIR@/rec.sh", "response-message": "Executing redeploy script",
	 "pass-arguments-to-command": [{"source": "payload", "name": "text"}],
	 "pass-environment-to-command": [{"source": "string", "envname": "OUT", "name": "@DIR@/slack.out"}],
	 "trigger-rule": {"match": {"type": "value", "value": "slack-token", "parameter": {"source": "payload", "name": "token"}}}},
	{"id": "simple-one", "execute-command": "@DIR@/rec.sh", "response-message": "Executing simple webhook...",
	 "pass-environment-to-command": [{"source": "string", "envname": "OUT", "name": "@DIR@/simple.out"}],
	 "trigger-rule": {"match": {"type": "value", "value": "42", "parameter": {"source": "url", "name": "token"}}}}
]`

func TestServeHooksDocumentedExamples(t *testing.T) {
	dir, hooks := hooksFixture(t, examplesJSON)
	addr, logs := serveHooks(t, dir, hooks)
	defer func() {
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	}()
	const unmet = "Hook rules were not satisfied."
	githubPush := `{"ref": "refs/heads/master", "head_commit": {"id": "c0ffee"}, "pusher": {"name": "ann", "email": "ann@example.org"}}`
	sha1sig := func(body string) string {
		m := hmac.New(sha1.New, []byte("mysecret"))
		m.Write([]byte(body))
		return "sha1=" + hex.EncodeToString(m.Sum(nil))
	}
	bare256 := strings.TrimPrefix(sign("mysecret", []byte(githubPush)), "sha256=")
	jsonType := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name, method, path string
		header             map[string]string
		body               string
		status             int
		answer             string
		out                string   // the recorder's file, when the command runs
		argv               []string // what it got, $REF last
	}{
		{"GitHub, signed push to master", "POST", "github",
			map[string]string{"Content-Type": "application/json", "X-Hub-Signature": sha1sig(githubPush)}, githubPush,
			200, "", "github.out", []string{"c0ffee", "ann", "ann@example.org", "REF="}},
		{"GitHub, push to another branch", "POST", "github",
			map[string]string{"Content-Type": "application/json", "X-Hub-Signature": sha1sig(`{"ref": "refs/heads/x"}`)}, `{"ref": "refs/heads/x"}`,
			200, unmet, "", nil},
		{"Bitbucket, from an allowed address", "POST", "bitbucket", jsonType, `{"actor": {"username": "bob"}}`,
			200, "", "bitbucket.out", []string{"bob", "REF="}},
		{"Bitbucket, from another address", "POST", "bitbucket-elsewhere", jsonType, `{}`, 200, unmet, "", nil},
		{"GitLab, right token", "POST", "gitlab", map[string]string{"Content-Type": "application/json", "X-Gitlab-Token": "gl-token"},
			`{"user_name": "Carol C"}`, 200, "Executing redeploy script", "gitlab.out", []string{"Carol C", "REF="}},
		{"GitLab, wrong token", "POST", "gitlab", map[string]string{"Content-Type": "application/json", "X-Gitlab-Token": "nope"},
			`{"user_name": "x"}`, 200, unmet, "", nil},
		{"Gogs, bare hex signature", "POST", "gogs", map[string]string{"Content-Type": "application/json", "X-Gogs-Signature": bare256},
			githubPush, 200, "", "gogs.out", []string{"c0ffee", "REF="}},
		{"Gitea, secret in the payload", "POST", "gitea", jsonType, `{"secret": "mysecret", "ref": "refs/heads/master", "pusher": {"email": "d@example.org"}}`,
			200, "", "gitea.out", []string{"d@example.org", "REF="}},
		{"Gitea, wrong secret", "POST", "gitea", jsonType, `{"secret": "guess", "ref": "refs/heads/master"}`, 200, unmet, "", nil},
		{"Slack slash command, a form", "POST", "slack", map[string]string{"Content-Type": "application/x-www-form-urlencoded"},
			"token=slack-token&text=deploy+prod", 200, "Executing redeploy script", "slack.out", []string{"deploy prod", "REF="}},
		{"simple GET without the token", "GET", "simple-one", nil, "", 200, unmet, "", nil},
		{"simple GET with the token", "GET", "simple-one?token=42", nil, "", 200, "Executing simple webhook...", "simple.out", []string{"REF="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, got := call(t, tt.method, "http://"+addr+"/hooks/"+tt.path, tt.header, tt.body)
			if code != tt.status || got != tt.answer {
				t.Errorf("answer %d %q, want %d %q", code, got, tt.status, tt.answer)
			}
			if tt.out != "" {
				if argv := recorded(t, filepath.Join(dir, tt.out)); !slices.Equal(argv, tt.argv) {
					t.Errorf("argv %q, want %q", argv, tt.argv)
				}
			}
		})
	}
}
