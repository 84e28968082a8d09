package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/sqlite"
)

// TestStoreCopyCopiesDedupKeys checks that a delivery repeated after a
// move is still a duplicate, on SQLite and PostgreSQL, and that an expired
// key is not carried over.
func TestStoreCopyCopiesDedupKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srcPath := filepath.Join(dir, "a", "postbox.db")
	src, err := openForTest(srcPath)
	if err != nil {
		t.Fatal(err)
	}
	var ids postbox.IDGen
	add := func(s postbox.Store, key string, window time.Duration) *postbox.Delivery {
		t.Helper()
		d := &postbox.Delivery{ID: ids.New(time.Now()), HookID: "gh", Method: "POST", Path: "/hooks/gh",
			Received: time.Now(), DedupKey: key, DedupWindow: window}
		if err := s.Append(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	first := add(src, "delivery-1", time.Hour)
	add(src, "old", time.Millisecond)
	src.Close()
	time.Sleep(2 * time.Millisecond) // the "old" key's window ends

	targets := []string{"sqlite:" + filepath.Join(dir, "b")}
	if testing.Short() {
		t.Log("PostgreSQL left out in -short")
	} else {
		targets = append(targets, pgSchema(t))
	}
	for _, to := range targets {
		out, errOut, err := postboxCmd(t, "store", "copy", "--from", "sqlite:"+srcPath, "--to", to)
		if err != nil || !strings.Contains(out, "1 dedup keys copied") {
			t.Fatalf("store copy → %s: %v\n%s%s", to, err, out, errOut)
		}
		dst, name, closeDst, err := openAddr(ctx, to, false)
		if err != nil {
			t.Fatal(err)
		}
		again := add(dst, "delivery-1", time.Hour)
		if again.State != postbox.StateDuplicate || again.DuplicateOf != first.ID {
			t.Errorf("%s: a repeat after the copy is %s (duplicate of %q), want a duplicate of %s", name, again.State, again.DuplicateOf, first.ID)
		}
		if d := add(dst, "old", time.Hour); d.State == postbox.StateDuplicate {
			t.Errorf("%s: an expired key was copied", name)
		}
		closeDst()
	}
}

func openForTest(path string) (*sqlite.DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	return sqlite.Open(context.Background(), path)
}
