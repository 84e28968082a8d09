package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestPrintConfig prints a configuration full of secrets, given in every way
// postbox takes them, and checks that none of them is in the output while
// the defaults are.
func TestPrintConfig(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{
		"SECRET_FILE":   "from-a-credential-file",
		"ENV_TOKEN":     "token-from-the-environment",
		"ADMIN":         "admin-bearer-token",
		"BASIC":         "basic-password-42",
		"HMAC_NEW":      "hmac-new-secret",
		"HMAC_OLD":      "hmac-old-secret",
		"GITHUB":        "github-webhook-secret",
		"PG":            "postgres-password",
		"URL_PASS":      "url-userinfo-password",
		"URL_QUERY":     "url-query-token",
		"HEADER":        "bearer-in-a-header",
		"ENV_VAR":       "api-key-in-env",
		"MQTT_PASSWORD": "mqtt-broker-password",
		"ANCHORED":      "shared-through-an-anchor",
	}
	if err := os.WriteFile(filepath.Join(dir, "lamp-token"), []byte(secrets["SECRET_FILE"]+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// ANCHORED is a user name reused as a token: from the environment, it
	// is printed as neither.
	cfg := `admin: {listen: 127.0.0.1:0, token: "${ADMIN}"}
store: postgres://postbox:${PG}@127.0.0.1:5432/postbox?sslmode=disable
hooks:
  - id: lamp
    path: /post
    auth:
      token: {header: X-Token, secret_file: "${CREDENTIALS_DIRECTORY}/lamp-token"}
  - id: basic
    auth:
      basic: {username: &shared "${ANCHORED}", password: "${BASIC}"}
  - id: env
    auth:
      token: {secrets: ["${ENV_TOKEN}", *shared]}
  - id: hmac
    auth:
      hmac: {header: X-Signature, algorithm: sha256, encoding: hex, secrets: ["${HMAC_NEW}", "${HMAC_OLD}"]}
  - id: github
    auth:
      github: {secret: "${GITHUB}"}
    actions:
      - exec:
          command: echo
          env: {API_KEY: "${ENV_VAR}", COLOR: blue}
      - http:
          url: "https://hooks:${URL_PASS}@example.org/in?token=${URL_QUERY}&x=1"
          headers: {Authorization: "Bearer ${HEADER}", X-Color: blue}
      - mqtt: {broker: tcp://127.0.0.1:1883, topic: t, username: u, password: "${MQTT_PASSWORD}"}
`
	path := filepath.Join(dir, "postbox.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(name string) string {
		if name == "CREDENTIALS_DIRECTORY" {
			return dir
		}
		return secrets[name]
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"postbox", "serve", "--config", path, "--print-config"}, getenv, &stdout, &stderr)
	if err != nil {
		t.Fatalf("serve --print-config: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for name, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("the output holds %s (%q):\n%s", name, secret, out)
		}
	}
	for _, want := range []string{
		"listen: 0.0.0.0:8080",
		"read_header_timeout: 5s",
		"idle_timeout: 2m",
		"max_header_bytes: 64KiB",
		"max_inflight: 1024",
		"io_workers: 256",
		"path: /hooks/env",
		"methods: [POST]",
		"COLOR: blue",
		"X-Color: blue",
		"https://hooks:[redacted]@example.org/in?token=[redacted]&x=1",
		`username: "${ANCHORED}"`,
		`secret_file: "${CREDENTIALS_DIRECTORY}/lamp-token"`,
		"postgres://postbox:[redacted]@127.0.0.1:5432/postbox?sslmode=disable",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
	var doc map[string]any
	if err := yaml.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Errorf("the output is not YAML: %v\n%s", err, out)
	}
}

// A configuration file whose name is not UTF-8 or holds a newline is named
// in the output's comment with escapes: the output is still one YAML
// document (yaml.v3 panicked on the bytes that are not UTF-8).
func TestPrintConfigEscapesTheFileName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "odd\xff\nname.yaml")
	if err := os.WriteFile(path, []byte("hooks:\n  - id: a\n    path: /a\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"postbox", "serve", "--config", path, "--print-config"},
		func(string) string { return "" }, &stdout, &stderr)
	if err != nil {
		t.Fatalf("serve --print-config: %v\n%s", err, stderr.String())
	}
	if want := `odd\xff\nname.yaml`; !strings.Contains(stdout.String(), want) {
		t.Errorf("the output does not name %s:\n%s", want, stdout.String())
	}
	var doc struct {
		Hooks []struct{ ID string } `yaml:"hooks"`
	}
	if err := yaml.Unmarshal(stdout.Bytes(), &doc); err != nil || len(doc.Hooks) != 1 || doc.Hooks[0].ID != "a" {
		t.Errorf("the output does not read back: %v, %+v\n%s", err, doc, stdout.String())
	}
}

// TestPrintConfigKeepsValuesFromTheEnvironmentOut puts values from the
// environment and from a secret file under keys that do not look secret
// (an argument, a user name, a URL path, a header): none of them is
// printed, each is shown as the ${NAME} it was written as.
func TestPrintConfigKeepsValuesFromTheEnvironmentOut(t *testing.T) {
	dir := t.TempDir()
	secrets := map[string]string{
		"DEPLOY_ARG":  "arg-from-the-environment",
		"BASIC_USER":  "user-from-the-environment",
		"URL_PART":    "path-from-the-environment",
		"HEADER_VAL":  "header-from-the-environment",
		"PLAIN":       "plain-value-from-the-environment",
		"PARTIAL":     "partial-from-the-environment",
		"BASIC_PASS":  "password-from-the-environment",
		"FROM_A_FILE": "contents-of-a-secret-file",
	}
	file := filepath.Join(dir, "hook-secret")
	if err := os.WriteFile(file, []byte(secrets["FROM_A_FILE"]), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := `admin: "off"
hooks:
  - id: deploy
    auth:
      basic: {username: "${BASIC_USER}", password: "${BASIC_PASS}"}
    when: payload.ref == "${PLAIN}"
    actions:
      - exec: {command: echo, args: ["--key=${DEPLOY_ARG}", "x-${PARTIAL}-y"]}
      - http:
          url: "https://example.org/${URL_PART}"
          headers: {X-Color: "${HEADER_VAL}"}
  - id: filed
    auth:
      token: {header: X-Token, secret_file: ` + file + `}
`
	path := filepath.Join(dir, "postbox.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"postbox", "serve", "--config", path, "--print-config"},
		func(name string) string { return secrets[name] }, &stdout, &stderr)
	if err != nil {
		t.Fatalf("serve --print-config: %v\n%s", err, stderr.String())
	}
	out := stdout.String()
	for name, secret := range secrets {
		if strings.Contains(out, secret) {
			t.Errorf("the output holds %s (%q):\n%s", name, secret, out)
		}
	}
	for _, want := range []string{`${BASIC_USER}`, `--key=${DEPLOY_ARG}`, `x-${PARTIAL}-y`, `https://example.org/${URL_PART}`, `${HEADER_VAL}`, `payload.ref == "${PLAIN}"`, "secret_file: " + file} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
}
