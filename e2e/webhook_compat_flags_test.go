package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestWebhookFlags checks adnanh/webhook's command-line flags on
// `postbox webhook`.
func TestWebhookFlags(t *testing.T) {
	t.Run("-urlprefix, -header, -http-methods and two -hooks files, JSON and YAML", func(t *testing.T) {
		s := startWebhook(t, map[string]string{
			"a.json": `[{"id": "a", "execute-command": "/bin/echo", "response-message": "from json"}]`,
			"b.yaml": "- id: b\n  execute-command: /bin/echo\n  response-message: from yaml\n  http-methods: [POST]\n",
		}, nil, "-hooks", "a.json", "-hooks", "b.yaml", "-urlprefix", "api/v1", "-header", "X-Served-By=postbox", "-http-methods", "GET")
		for _, tc := range []struct {
			method, path string
			status       int
			body         string
		}{
			{"GET", "/api/v1/a", 200, "from json"},
			{"POST", "/api/v1/a", 405, ""},
			{"POST", "/api/v1/b", 200, "from yaml"},
			{"GET", "/hooks/a", 404, ""},
		} {
			res, body := s.do(t, request{method: tc.method, path: tc.path})
			if res.StatusCode != tc.status || tc.body != "" && body != tc.body {
				t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.path, res.StatusCode, body, tc.status, tc.body)
			}
			if tc.status == 200 && res.Header.Get("X-Served-By") != "postbox" {
				t.Errorf("%s %s: X-Served-By = %q, want the -header value", tc.method, tc.path, res.Header.Get("X-Served-By"))
			}
		}
	})

	t.Run("-x-request-id logs the client's X-Request-Id, cut to -x-request-id-limit", func(t *testing.T) {
		s := startWebhook(t, map[string]string{"hooks.json": `[{"id": "r", "execute-command": "/bin/echo"}]`},
			nil, "-hooks", "hooks.json", "-x-request-id", "-x-request-id-limit", "8")
		s.do(t, request{method: "POST", path: "/hooks/r", header: map[string]string{"X-Request-Id": "abcdefgh-rest"}})
		s.waitLog("the accepted line with the request id", func(r record) bool {
			return r["msg"] == "accepted" && r["request_id"] == "abcdefgh"
		})
	})

	t.Run("-template renders getenv before the file is read", func(t *testing.T) {
		s := startWebhook(t, map[string]string{
			"hooks.json": `[{"id": "t", "execute-command": "/bin/echo", "response-message": "ok",
			  "trigger-rule": {"match": {"type": "value", "value": "{{ getenv "TOKEN" }}", "parameter": {"source": "url", "name": "token"}}}}]`,
		}, []string{"TOKEN=s3cret"}, "-hooks", "hooks.json", "-template")
		if res, body := s.do(t, request{method: "POST", path: "/hooks/t?token=s3cret"}); res.StatusCode != 200 || body != "ok" {
			t.Errorf("with the token: %d %q", res.StatusCode, body)
		}
		if _, body := s.do(t, request{method: "POST", path: "/hooks/t?token=other"}); body != "Hook rules were not satisfied." {
			t.Errorf("without it: %q", body)
		}
	})

	t.Run("-hotreload picks up a file an editor replaces by rename", func(t *testing.T) {
		s := startWebhook(t, map[string]string{"hooks.json": `[{"id": "old", "execute-command": "/bin/echo"}]`},
			nil, "-hooks", "hooks.json", "-hotreload")
		tmp := filepath.Join(s.dir, ".hooks.json.swp")
		if err := os.WriteFile(tmp, []byte(`[{"id": "new", "execute-command": "/bin/echo", "response-message": "reloaded"}]`), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(s.dir, "hooks.json")); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, func() string {
			res, body := s.do(t, request{method: "POST", path: "/hooks/new"})
			if res.StatusCode != 200 || body != "reloaded" {
				return fmt.Sprintf("new hook: %d %q", res.StatusCode, body)
			}
			return ""
		})
		if res, _ := s.do(t, request{method: "POST", path: "/hooks/old"}); res.StatusCode != 404 {
			t.Errorf("old hook after the reload: %d", res.StatusCode)
		}
	})

	t.Run("SIGUSR1 reloads the hooks without -hotreload, as in webhook", func(t *testing.T) {
		s := startWebhook(t, map[string]string{"hooks.json": `[{"id": "old", "execute-command": "/bin/echo"}]`}, nil, "-hooks", "hooks.json")
		if err := os.WriteFile(filepath.Join(s.dir, "hooks.json"), []byte(`[{"id": "new", "execute-command": "/bin/echo", "response-message": "after USR1"}]`), 0o644); err != nil {
			t.Fatal(err)
		}
		s.cmd.Process.Signal(syscall.SIGUSR1)
		s.waitLog("the reload", func(r record) bool { return r["msg"] == "config reloaded" })
		if res, body := s.do(t, request{method: "POST", path: "/hooks/new"}); res.StatusCode != 200 || body != "after USR1" {
			t.Errorf("new hook after SIGUSR1: %d %q", res.StatusCode, body)
		}
	})

	t.Run("-socket serves on a unix socket", func(t *testing.T) {
		sock := filepath.Join(t.TempDir(), "webhook.sock")
		s := startWebhook(t, map[string]string{"hooks.json": `[{"id": "s", "execute-command": "/bin/echo", "response-message": "over the socket"}]`},
			nil, "-hooks", "hooks.json", "-socket", sock)
		s.client.Transport = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}}
		s.url = "http://webhook"
		if res, body := s.do(t, request{method: "POST", path: "/hooks/s"}); res.StatusCode != 200 || body != "over the socket" {
			t.Errorf("over the socket: %d %q", res.StatusCode, body)
		}
		s.stop()
		if _, err := os.Stat(sock); !os.IsNotExist(err) {
			t.Errorf("the socket is left behind after the server stopped (stat: %v)", err)
		}
	})

	t.Run("-secure, -cert, -key and -tls-min-version serve HTTPS", func(t *testing.T) {
		certDir := t.TempDir()
		cert := newSelfSigned(t, certDir)
		s := startWebhook(t, map[string]string{"hooks.json": `[{"id": "tls", "execute-command": "/bin/echo", "response-message": "secure"}]`},
			nil, "-hooks", "hooks.json", "-secure", "-cert", cert.certFile, "-key", cert.keyFile, "-tls-min-version", "1.3")
		s.url = "https://" + s.addr
		s.client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.pool}}
		if res, body := s.do(t, request{method: "POST", path: "/hooks/tls"}); res.StatusCode != 200 || body != "secure" {
			t.Errorf("over TLS: %d %q", res.StatusCode, body)
		}
		old := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: cert.pool, MaxVersion: tls.VersionTLS12}}}
		if res, err := old.Post(s.url+"/hooks/tls", "text/plain", nil); err == nil {
			res.Body.Close()
			t.Errorf("a TLS 1.2 client was served despite -tls-min-version 1.3")
		}
	})

	t.Run("the binary named webhook is postbox webhook", func(t *testing.T) {
		dir := t.TempDir()
		link := filepath.Join(dir, "webhook")
		if err := os.Symlink(binary, link); err != nil {
			t.Fatal(err)
		}
		out, err := runBinary(t, dir, link, "-version")
		if err != nil || !strings.Contains(out, "webhook version") {
			t.Errorf("webhook -version: %v %q", err, out)
		}
	})

	t.Run("a hooks file that does not load stops the server unless -nopanic", func(t *testing.T) {
		dir := t.TempDir()
		res := runPostbox(t, dir, nil, "webhook", "-hooks", "absent.json", "-ip", "127.0.0.1", "-port", "0", "--admin", "off")
		if res.code != 1 || !strings.Contains(res.stderr, "couldn't load any hooks") {
			t.Errorf("without -nopanic: exit %d, stderr %q", res.code, res.stderr)
		}
		s := startWebhook(t, nil, nil, "-hooks", "absent.json", "-nopanic", "-pidfile", "webhook.pid")
		if res, body := s.do(t, request{method: "GET", path: "/"}); res.StatusCode != 200 || body != "OK" {
			t.Errorf("with -nopanic, GET / = %d %q", res.StatusCode, body)
		}
		pid, err := os.ReadFile(filepath.Join(s.dir, "webhook.pid"))
		if err != nil || strings.TrimSpace(string(pid)) != strconv.Itoa(s.cmd.Process.Pid) {
			t.Errorf("-pidfile holds %q (%v), want %d", pid, err, s.cmd.Process.Pid)
		}
	})
}

// runBinary runs path with args in dir and returns its stdout.
func runBinary(t *testing.T, dir, path string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = baseEnv()
	out, err := cmd.Output()
	return string(out), err
}

// TestWebhookLargeBodies passes a 10 MiB body to commands by file
// (pass-file-to-command under postbox webhook) and by stdin (exec stdin:
// under postbox serve): too large for argv or the environment (E2BIG).
func TestWebhookLargeBodies(t *testing.T) {
	body := strings.Repeat("0123456789abcdef", 10<<20/16)
	want := fmt.Sprintf("%x", sha256.Sum256([]byte(body)))
	t.Run("pass-file-to-command writes the body to a file removed after the run", func(t *testing.T) {
		s := startWebhook(t, map[string]string{
			"hooks.json": `[{"id": "file", "execute-command": "@DIR@/sum.sh", "include-command-output-in-response": true,
			  "pass-file-to-command": [{"source": "raw-request-body", "envname": "BODY_FILE"}]}]`,
			"sum.sh": "#!/bin/sh\nsha256sum < \"$BODY_FILE\" | cut -d' ' -f1\necho \"$BODY_FILE\"\n",
		}, nil, "-hooks", "hooks.json")
		res, out := s.do(t, request{method: "POST", path: "/hooks/file", header: map[string]string{"Content-Type": "text/plain"}, body: body})
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if res.StatusCode != 200 || len(lines) != 2 || lines[0] != want {
			t.Fatalf("answer %d %q, want the body's sha256 %s", res.StatusCode, out, want)
		}
		if _, err := os.Stat(lines[1]); !os.IsNotExist(err) {
			t.Errorf("%s is still there after the run (stat: %v)", lines[1], err)
		}
	})
	t.Run("exec stdin: passes the body on standard input", func(t *testing.T) {
		s := startServer(t, `
listen: 127.0.0.1:0
admin: off
data: ./data
limits: {max_body: 16MiB}
hooks:
  - id: stdin
    mode: sync
    actions:
      - exec: {command: sh, args: ["-c", "sha256sum | cut -d' ' -f1"], stdin: "{{ .Body }}"}
    response: {body: "{{ .Result.Output }}"}
`)
		res, out := s.do(t, request{method: "POST", path: "/hooks/stdin", header: map[string]string{"Content-Type": "text/plain"}, body: body})
		if res.StatusCode != 200 || strings.TrimSpace(out) != want {
			t.Fatalf("answer %d %q, want the body's sha256 %s", res.StatusCode, out, want)
		}
	})
}

// TestWebhookLogfile: -logfile sends the log to a file (verbose), not to
// stderr; --workers is taken.
func TestWebhookLogfile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hooks.json"), []byte(`[{"id": "a", "execute-command": "/bin/echo"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := postboxCommand(context.Background(), "webhook", "-hooks", "hooks.json", "-ip", "127.0.0.1", "-port", "0", "--admin", "off",
		"-logfile", "webhook.log", "--workers", "4")
	cmd.Dir, cmd.Env = dir, baseEnv()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		if stderr.Len() > 0 {
			t.Errorf("stderr with -logfile: %q", stderr.String())
		}
	}()
	eventually(t, 15*time.Second, func() string {
		b, _ := os.ReadFile(filepath.Join(dir, "webhook.log"))
		if !strings.Contains(string(b), "msg=ready") {
			return fmt.Sprintf("webhook.log holds %q", b)
		}
		return ""
	})
}
