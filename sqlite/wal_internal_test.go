//go:build linux || darwin || freebsd || netbsd || openbsd

package sqlite

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox/storetest"
)

// TestAnswerWaitsForSync: a write is answered with the outcome of the WAL's
// fsync, not of the commit alone (which, with synchronous=NORMAL, leaves
// the transaction in the page cache), and a failed fsync fails every later
// write: the frames it did not write are never written again.
func TestAnswerWaitsForSync(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if db.wal == nil {
		t.Fatal("pipelined sync is off on a platform that has it")
	}
	var mode int
	if err := db.w.QueryRow("PRAGMA synchronous").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 1 {
		t.Fatalf("writer's synchronous = %d, want 1 (NORMAL): the syncer does the fsync", mode)
	}
	if err := db.Append(context.Background(), storetest.NewDelivery("h", 0)); err != nil {
		t.Fatal(err)
	}
	if err := db.Healthy(); err != nil {
		t.Fatalf("Healthy() = %v on a working store", err)
	}
	var logged strings.Builder
	db.SetLogger(slog.New(slog.NewTextHandler(&logged, nil)))
	// Make the next fsync fail: the file it syncs is gone.
	db.wal.close()
	good := db.wal.path
	db.wal.path = filepath.Join(t.TempDir(), "missing-wal")
	err = db.Append(context.Background(), storetest.NewDelivery("h", 0))
	if err == nil || !strings.Contains(err.Error(), "sync") {
		t.Fatalf("Append with a failing fsync = %v, want an error naming the sync", err)
	}
	db.wal.path = good
	if err := db.Healthy(); err == nil {
		t.Error("Healthy() = nil after a failed fsync")
	}
	if !strings.Contains(logged.String(), "store failed") {
		t.Errorf("the failed fsync was not logged; log: %q", logged.String())
	}
	err = db.Append(context.Background(), storetest.NewDelivery("h", 0))
	if err == nil || !strings.Contains(err.Error(), "restarted") {
		t.Fatalf("Append after a failed fsync = %v, want the store to refuse writes until restarted", err)
	}
}

// TestSymlinkedDatabase: the syncer fsyncs the WAL SQLite writes, next to
// the real file, not one next to the symlink.
func TestSymlinkedDatabase(t *testing.T) {
	real, link := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(real, "postbox.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(real, "postbox.db"), filepath.Join(link, "postbox.db")); err != nil {
		t.Fatal(err)
	}
	// A stray file where a naive syncer would look.
	if err := os.WriteFile(filepath.Join(link, "postbox.db-wal"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := Open(context.Background(), filepath.Join(link, "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Append(context.Background(), storetest.NewDelivery("h", 0)); err != nil {
		t.Fatal(err)
	}
	want, err := filepath.EvalSymlinks(filepath.Join(real, "postbox.db-wal"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := filepath.EvalSymlinks(db.wal.path)
	if err != nil || got != want {
		t.Fatalf("syncer fsyncs %s (%v), want SQLite's WAL %s", db.wal.path, err, want)
	}
}

// TestCheckpointsRunBesideTheWriter: the writer asks the checkpointer for a
// checkpoint every checkpointAfter writes, and it runs one.
func TestCheckpointsRunBesideTheWriter(t *testing.T) {
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var auto int
	want := autoCheckpointBytes / pageSize // 40 MiB of pages
	if err := db.w.QueryRow("PRAGMA wal_autocheckpoint").Scan(&auto); err != nil || auto != want {
		t.Fatalf("writer's wal_autocheckpoint = %d (%v), want %d: the checkpointer does the work", auto, err, want)
	}
	for range checkpointAfter(db.migration.PageSize) + 1 {
		if err := db.Append(context.Background(), storetest.NewDelivery("h", 0)); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for db.checkpoints.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint after %d writes", checkpointAfter(db.migration.PageSize)+1)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
