package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox/config"
)

// Every relative path in the file is relative to the file: data: (written
// or the default) and a secret file, as schema: and tls: files are; the test
// runs in the package's directory, the file is elsewhere.
func TestRelativePathsAreRelativeToTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin-token"), []byte("a-token-of-32-characters-or-so-x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, data, want string
	}{
		{"a written data: is joined to the file's directory", "data: state\n", filepath.Join(dir, "state")},
		{"the default data: is next to the file", "", filepath.Join(dir, "postbox-data")},
		{"an absolute data: stays as it is", "data: /var/lib/postbox\n", "/var/lib/postbox"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "postbox.yaml")
			src := "admin: {listen: 127.0.0.1:8081, token_file: admin-token}\nhooks: [{id: lamp}]\n" + tt.data
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := config.Load(path, func(string) string { return "" })
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Data != tt.want || cfg.AdminToken != "a-token-of-32-characters-or-so-x" {
				t.Errorf("data %q, admin token %q; want %q and the file's token", cfg.Data, cfg.AdminToken, tt.want)
			}
			store, err := config.LoadStore(path, func(string) string { return "" })
			if err != nil || store.Data != tt.want {
				t.Errorf("LoadStore: data %v, %v; want %q", store, err, tt.want)
			}
		})
	}
}

// LoadStore reads data: and store: alone: an unset variable or a missing
// secret file elsewhere is not its concern, one in store: is.
func TestLoadStoreReadsTheStoreSettingsAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "postbox.yaml")
	src := `hooks:
  - id: lamp
    auth: {token: {header: X-Token, secret: "${LAMP_TOKEN}"}}
  - id: gh
    auth: {github: {secret_file: missing}}
store: "postgres://postbox:${PGPASSWORD}@db/postbox"
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(name string) string { return map[string]string{"PGPASSWORD": "pw"}[name] }
	cfg, err := config.LoadStore(path, getenv)
	if err != nil || cfg.Store != "postgres://postbox:pw@db/postbox" {
		t.Fatalf("LoadStore: %+v, %v", cfg, err)
	}
	_, err = config.LoadStore(path, func(string) string { return "" })
	if err == nil || err.Error() != path+":6: store: environment variable PGPASSWORD is not set (write ${PGPASSWORD:-default} for a default)" {
		t.Errorf("without PGPASSWORD: %v", err)
	}
}

// LoadRetention reads retention:, the top level's and each hook's, with
// the store's settings, and still none of the hooks' secrets.
func TestLoadRetentionReadsEachHooksRetentionNotItsSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "postbox.yaml")
	src := `retention: {max_age: 10d}
hooks:
  - id: lamp
    auth: {token: {header: X-Token, secret: "${LAMP_TOKEN}"}}
    retention: {max_age: 2d}
  - id: gh
    auth: {github: {secret_file: missing}}
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.LoadRetention(path, func(string) string { return "" })
	if err != nil {
		t.Fatalf("LoadRetention: %v", err)
	}
	if got := cfg.Retention.Default.MaxAge; got != 10*24*time.Hour {
		t.Errorf("top-level max_age %v, want 10d", got)
	}
	if got := cfg.Retention.Hooks["lamp"].MaxAge; got != 2*24*time.Hour {
		t.Errorf("lamp's max_age %v, want 2d; hooks %+v", got, cfg.Retention.Hooks)
	}
	if _, ok := cfg.Retention.Hooks["gh"]; ok {
		t.Errorf("gh has a retention of its own: %+v", cfg.Retention.Hooks)
	}
	bad := strings.Replace(src, "max_age: 2d", "max_deliveries: -1", 1)
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.LoadRetention(path, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), ":5: hooks[0] \"lamp\": retention.max_deliveries must not be negative") {
		t.Errorf("a bad hook retention: %v, want its line and field", err)
	}
}
