//go:build unix

package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/sqlite"
)

// TestDatabaseFilesAreOwnerOnly opens a store in a directory that others
// may read (0755, umask 022, as a data directory made by hand often is)
// and checks that the database, its WAL and its shared memory file are
// 0600: they hold every body received.
func TestDatabaseFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()

	check := func(t *testing.T, path string) {
		t.Helper()
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		d := &postbox.Delivery{ID: "d1", HookID: "h", Method: "POST", Path: "/h", Body: []byte(`{"secret":"x"}`), Received: time.Now(), Key: "k"}
		if err := db.Append(ctx, d); err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			fi, err := os.Stat(p)
			if err != nil {
				t.Errorf("%s: %v", filepath.Base(p), err)
				continue
			}
			if got := fi.Mode().Perm(); got != 0o600 {
				t.Errorf("%s is %#o, want 0600", filepath.Base(p), got)
			}
		}
	}
	t.Run("a new database in a directory others may read", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		check(t, filepath.Join(dir, "postbox.db"))
	})
	t.Run("a database an older postbox created 0644", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "postbox.db")
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		for _, p := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.Chmod(p, 0o644); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
		}
		check(t, path)
	})
}
