package config_test

import (
	"os"
	"path/filepath"
	"testing"

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
