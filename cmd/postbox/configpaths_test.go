package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postbox/postbox/sqlite"
	"github.com/postbox/postbox/storetest"
)

// secretHooks is a configuration whose hooks need a variable and a file
// that only the server's environment has (postboxCmd's has neither).
const secretHooks = `listen: 127.0.0.1:0
admin: "off"
hooks:
  - id: lamp
    auth: {token: {header: X-Token, secret: "${LAMP_TOKEN}"}}
  - id: gh
    auth: {github: {secret_file: /run/credentials/postbox.service/gh-secret}}
`

// newStore creates the SQLite store of a data directory with one delivery.
func newStore(t *testing.T, data string) string {
	t.Helper()
	if err := os.MkdirAll(data, 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(data, "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	d := storetest.NewDelivery("lamp", 0)
	if err := db.Append(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	db.Close()
	return d.ID
}

// Commands that read or manage the store run in an operator's shell, which
// has none of the hooks' secrets: they read data: and store: alone.
func TestStoreCommandsNeedNoHookSecrets(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "postbox.yaml")
	writeFile(t, cfg, secretHooks+"data: "+filepath.Join(dir, "data")+"\n")
	id := newStore(t, filepath.Join(dir, "data"))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"deliveries list lists", []string{"deliveries", "list", "--config", cfg}, id},
		{"deliveries show shows", []string{"deliveries", "show", "--config", cfg, id}, id},
		{"deliveries replay answers", []string{"deliveries", "replay", "--config", cfg, "--state", "dead"}, "0 replayed"},
		{"migrate migrates", []string{"migrate", "--config", cfg}, "schema"},
		{"deliveries prune plans", []string{"deliveries", "prune", "--config", cfg, "--dry-run"}, "would remove 0 deliveries"},
		{"store stats describes", []string{"store", "stats", "--config", cfg}, "Deliveries: 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, stderr, err := postboxCmd(t, tt.args...)
			if err != nil || !strings.Contains(out, tt.want) {
				t.Errorf("postbox %s: %v; stdout %q, stderr %q; want %q in stdout", strings.Join(tt.args, " "), err, out, stderr, tt.want)
			}
		})
	}
	t.Run("destinations reads admin: alone", func(t *testing.T) {
		_, stderr, err := postboxCmd(t, "destinations", "--config", cfg)
		if err == nil || strings.Contains(stderr, "LAMP_TOKEN") {
			t.Errorf("err %v, stderr %q; want admin is off, not the hooks' secrets", err, stderr)
		}
	})
	t.Run("check still needs them", func(t *testing.T) {
		_, stderr, err := postboxCmd(t, "check", "--config", cfg)
		if err == nil || !strings.Contains(stderr, "LAMP_TOKEN is not set") || !strings.Contains(stderr, "gh-secret") {
			t.Errorf("err %v, stderr %q; want both secrets reported", err, stderr)
		}
	})
}

// A relative data: is relative to the configuration file, as schema: and
// tls: files are, wherever the command runs (the test runs in the package's
// directory, the configuration is elsewhere).
func TestDataIsRelativeToTheConfigFile(t *testing.T) {
	for _, data := range []string{"data: state\n", ""} {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "postbox.yaml")
		writeFile(t, cfg, "admin: \"off\"\nhooks: [{id: lamp}]\n"+data)
		where := filepath.Join(dir, "state")
		if data == "" {
			where = filepath.Join(dir, "postbox-data")
		}
		id := newStore(t, where)
		out, stderr, err := postboxCmd(t, "deliveries", "list", "--config", cfg)
		if err != nil || !strings.Contains(out, id) {
			t.Errorf("with %q: %v; stdout %q, stderr %q; want the delivery in %s", data, err, out, stderr, where)
		}
	}
}
