//go:build linux || darwin || freebsd || netbsd || openbsd

package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postbox/postbox/storetest"
)

// TestAnswerWaitsForSync: a write is answered with the outcome of the WAL's
// fsync, not of the commit alone (which, with synchronous=NORMAL, leaves
// the transaction in the page cache).
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
	// Make the next fsync fail: the file it syncs is gone.
	db.wal.close()
	db.wal.path = filepath.Join(t.TempDir(), "missing-wal")
	err = db.Append(context.Background(), storetest.NewDelivery("h", 0))
	if err == nil || !strings.Contains(err.Error(), "sync") {
		t.Fatalf("Append with a failing fsync = %v, want an error naming the sync", err)
	}
}
