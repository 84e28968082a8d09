package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWebhookRefusesBadFlags: each flag a user can get wrong is named,
// with exit status 2, before anything is served.
func TestWebhookRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	hooks := filepath.Join(dir, "hooks.json")
	if err := os.WriteFile(hooks, []byte(`[{"id": "a", "execute-command": "/bin/echo"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"-setuid without -setgid", []string{"-setuid", "1000"}, "-setuid and -setgid must be used together"},
		{"an unknown TLS version", []string{"-tls-min-version", "1.4"}, `-tls-min-version "1.4"`},
		{"an unknown cipher suite", []string{"-cipher-suites", "TLS_NOPE"}, `"TLS_NOPE" is not a cipher suite`},
		{"a -header without =", []string{"-header", "X-A"}, `-header "X-A": write name=value`},
		{"a stray argument", []string{"hooks.json"}, `unexpected argument "hooks.json"`},
		{"an unknown flag", []string{"-nosuch"}, "flag provided but not defined: -nosuch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			args := append([]string{"webhook", "-hooks", hooks, "-port", "0", "--admin", "off", "--data", t.TempDir()}, tc.args...)
			err := run(context.Background(), args, func(string) string { return "" }, &bytes.Buffer{}, &stderr)
			if exitCode(err) != 2 {
				t.Errorf("exit %d, want 2; stderr:\n%s", exitCode(err), stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, stderr.String())
			}
		})
	}
}

func TestWebhookVersionAndCipherList(t *testing.T) {
	var stdout bytes.Buffer
	if err := run(context.Background(), []string{"/usr/local/bin/webhook", "-version"}, func(string) string { return "" }, &stdout, &bytes.Buffer{}); err != nil ||
		!strings.HasPrefix(stdout.String(), "webhook version 2.8") {
		t.Errorf("webhook -version: %v %q", err, stdout.String())
	}
	stdout.Reset()
	if err := run(context.Background(), []string{"postbox", "webhook", "-list-cipher-suites"}, func(string) string { return "" }, &stdout, &bytes.Buffer{}); err != nil ||
		!strings.Contains(stdout.String(), "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256") {
		t.Errorf("-list-cipher-suites: %v %q", err, stdout.String())
	}
}
