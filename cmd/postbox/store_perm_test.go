//go:build unix

package main

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/postbox/postbox/config"
)

// TestDataDirectoryIsOwnerOnly checks the modes of what serve and migrate
// create under a umask of 022: the data directory 0700, the database 0600.
func TestDataDirectoryIsOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	modes := func(t *testing.T, data string) {
		t.Helper()
		for path, want := range map[string]os.FileMode{data: 0o700, filepath.Join(data, "postbox.db"): 0o600} {
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != want {
				t.Errorf("%s is %#o, want %#o", path, got, want)
			}
		}
	}
	t.Run("serve", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		_, closeStore, err := openStore(context.Background(), &config.Config{Data: data}, true)
		if err != nil {
			t.Fatal(err)
		}
		defer closeStore()
		modes(t, data)
	})
	t.Run("migrate", func(t *testing.T) {
		dir := t.TempDir()
		data := filepath.Join(dir, "data")
		cfg := filepath.Join(dir, "postbox.yaml")
		writeFile(t, cfg, "admin: \"off\"\ndata: "+data+"\nhooks: [{id: a}]\n")
		if _, stderr, err := postboxCmd(t, "migrate", "--config", cfg); err != nil {
			t.Fatalf("migrate: %v\n%s", err, stderr)
		}
		modes(t, data)
	})
}
