package config_test

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postbox/postbox/config"
)

// TestSystemdCredentials reads secrets the way a unit with LoadCredential=
// hands them over: files in $CREDENTIALS_DIRECTORY, named by secret_file:,
// token_file: and password_file:.
func TestSystemdCredentials(t *testing.T) {
	creds := t.TempDir()
	for name, value := range map[string]string{
		"lamp-token":  "t0ken-from-credential\n", // one trailing newline is dropped
		"admin-token": "admin-from-credential",
		"basic":       "open sesame",
	} {
		if err := os.WriteFile(filepath.Join(creds, name), []byte(value), 0o400); err != nil {
			t.Fatal(err)
		}
	}
	getenv := func(name string) string {
		if name == "CREDENTIALS_DIRECTORY" {
			return creds
		}
		return ""
	}
	src := `admin: {listen: 127.0.0.1:8081, token_file: "${CREDENTIALS_DIRECTORY}/admin-token"}
hooks:
  - id: lamp
    path: /post
    auth:
      token: {header: X-Token, secret_file: "${CREDENTIALS_DIRECTORY}/lamp-token"}
  - id: basic
    auth:
      basic: {username: alice, password_file: "${CREDENTIALS_DIRECTORY}/basic"}
`
	cfg, err := config.Parse("p.yaml", []byte(src), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.AdminToken != "admin-from-credential" {
		t.Errorf("admin token = %q, want the credential's contents", cfg.AdminToken)
	}
	lamp := cfg.Hooks[0]
	for _, tc := range []struct {
		token string
		ok    bool
	}{{"t0ken-from-credential", true}, {"t0ken-from-credential\n", false}, {"wrong", false}} {
		r := httptest.NewRequest("POST", "/post", nil)
		r.Header.Set("X-Token", tc.token)
		err := lamp.Auth[0].Verify(r, nil)
		if (err == nil) != tc.ok {
			t.Errorf("X-Token %q: Verify = %v, want ok=%v", tc.token, err, tc.ok)
		}
	}
	r := httptest.NewRequest("POST", "/hooks/basic", nil)
	r.SetBasicAuth("alice", "open sesame")
	if err := cfg.Hooks[1].Auth[0].Verify(r, nil); err != nil {
		t.Errorf("basic with the credential's password: %v", err)
	}
}

// TestSystemdCredentialsMissing names the credential that is not there,
// as `postbox check` does when LoadCredential= was forgotten.
func TestSystemdCredentialsMissing(t *testing.T) {
	creds := t.TempDir()
	getenv := func(name string) string {
		if name == "CREDENTIALS_DIRECTORY" {
			return creds
		}
		return ""
	}
	src := "hooks:\n  - id: lamp\n    auth:\n      token: {secret_file: \"${CREDENTIALS_DIRECTORY}/lamp-token\"}\n"
	_, err := config.Parse("p.yaml", []byte(src), getenv)
	want := `p.yaml:4: hooks[0].auth.token.secret_file: cannot read secret file: open ` + creds + `/lamp-token: no such file or directory`
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}

	// Outside systemd the variable is unset: the reference is the problem.
	_, err = config.Parse("p.yaml", []byte(src), func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "environment variable CREDENTIALS_DIRECTORY is not set") {
		t.Errorf("without CREDENTIALS_DIRECTORY: %v", err)
	}
}
