package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/sqlite"
	"github.com/postbox/postbox/storetest"
)

// copyFixture copies testdata/name into a new directory and returns the
// copy's path.
func copyFixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "postbox.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// pragma reads one integer pragma of the file at path.
func pragma(t *testing.T, path, name string) int {
	t.Helper()
	c, err := sql.Open(sqlite.DriverName, "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var v int
	if err := c.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestUpgradeFromUnversioned(t *testing.T) {
	ctx := context.Background()
	path := copyFixture(t, "v0.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := db.Migration()
	if want := []string{"0001_init.sql", "0002_retention.sql", "0003_instances.sql", "0004_relay.sql"}; !slices.Equal(m.Applied, want) || m.Version != m.Latest || m.Latest != 4 {
		t.Errorf("migration = %+v, want %v applied, at version 4", m, want)
	}
	if !m.Converted || m.Vacuum != "incremental" {
		t.Errorf("the small old file was not switched to incremental vacuum: %+v", m)
	}

	ds, err := db.Deliveries(ctx, postbox.DeliveryFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	states := map[postbox.State]int{}
	for _, d := range ds {
		states[d.State]++
	}
	if len(ds) != 12 || states[postbox.StateDone] != 1 || states[postbox.StateDead] != 1 || states[postbox.StatePending] != 10 {
		t.Fatalf("after the upgrade: %d deliveries %v, want 12 (1 done, 1 dead, 10 pending)", len(ds), states)
	}
	attempts := 0
	for _, d := range ds {
		full, err := db.Delivery(ctx, d.ID)
		if err != nil {
			t.Fatal(err)
		}
		attempts += len(full.Attempts)
		if len(full.Body) == 0 || full.Header.Get("Content-Type") != "application/json" {
			t.Errorf("delivery %s lost its body or headers: %q %v", d.ID, full.Body, full.Header)
		}
	}
	if attempts != 3 {
		t.Errorf("%d attempts kept, want 3", attempts)
	}
	b, err := db.Backlog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.Jobs != 10 || b.Leased != 0 && b.Leased != 1 {
		t.Errorf("backlog = %+v, want 10 jobs", b)
	}
	// The dedup keys still deduplicate.
	d := &postbox.Delivery{ID: "01KZZZZZZZZZZZZZZZZZZZZZZZ", HookID: "github", Method: "POST", Path: "/hooks/github",
		Received: time.Now(), DedupKey: "key-4", DedupWindow: time.Hour}
	if err := db.Append(ctx, d); err != nil {
		t.Fatal(err)
	}
	if d.State != postbox.StateDuplicate || d.DuplicateOf != "01KDYATDG8BVB6CR4GPAHS9YED" {
		t.Errorf("a repeat of an upgraded dedup key: state %s, duplicate of %q", d.State, d.DuplicateOf)
	}
	db.Close()

	if v := pragma(t, path, "user_version"); v != 4 {
		t.Errorf("user_version = %d, want 4", v)
	}
	if v := pragma(t, path, "auto_vacuum"); v != 2 {
		t.Errorf("auto_vacuum = %d, want 2 (incremental)", v)
	}
	if v := pragma(t, path, "page_size"); v != 4096 {
		t.Errorf("page_size = %d, want 4096 kept", v)
	}
	again, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if m := again.Migration(); len(m.Applied) != 0 || m.Converted {
		t.Errorf("reopening an up-to-date file did %+v", m)
	}
}

func TestNewFileIsIncrementalAndVersioned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "postbox.db")
	m, err := sqlite.Migrate(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if m.Version != m.Latest || len(m.Applied) != m.Latest || m.Converted || m.Vacuum != "incremental" {
		t.Errorf("a new file's migration = %+v", m)
	}
	if v := pragma(t, path, "auto_vacuum"); v != 2 {
		t.Errorf("auto_vacuum = %d, want 2 (incremental)", v)
	}
	if v := pragma(t, path, "page_size"); v != 4096 || m.PageSize != 4096 {
		t.Errorf("page_size = %d (migration says %d), want 4096", v, m.PageSize)
	}
	m, err = sqlite.Migrate(context.Background(), path)
	if err != nil || len(m.Applied) != 0 || m.Version != m.Latest {
		t.Errorf("migrating again = %+v, %v; want nothing applied", m, err)
	}
}

// TestMigrateConvertsThePageSize: postbox migrate rewrites a file with
// 16 KiB pages (made by a build of the days they were the default) to
// 4 KiB pages, in WAL mode still, with its rows; Open leaves it as it is;
// a second migrate does nothing.
func TestMigrateConvertsThePageSize(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "postbox.db")
	c, err := sql.Open(sqlite.DriverName, "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	c.SetMaxOpenConns(1)
	for _, q := range []string{"PRAGMA page_size = 16384", "PRAGMA auto_vacuum = INCREMENTAL", "PRAGMA journal_mode = WAL"} {
		if _, err := c.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if m := db.Migration(); m.PageSize != 16384 {
		t.Fatalf("opened a 16 KiB-page file: page size %d, want it kept", m.PageSize)
	}
	for range 20 {
		if err := db.Append(ctx, storetest.NewDelivery("h", 1)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	m, err := sqlite.Migrate(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if !m.Converted || m.PageSize != 4096 {
		t.Errorf("migrate = %+v, want converted to 4096-byte pages", m)
	}
	if v := pragma(t, path, "page_size"); v != 4096 {
		t.Errorf("page_size = %d after migrate, want 4096", v)
	}
	r, err := sql.Open(sqlite.DriverName, "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var mode, check string
	var n int
	if err := r.QueryRow(`SELECT (SELECT journal_mode FROM pragma_journal_mode), (SELECT integrity_check FROM pragma_integrity_check), (SELECT count(*) FROM deliveries)`).Scan(&mode, &check, &n); err != nil {
		t.Fatal(err)
	}
	if mode != "wal" || check != "ok" || n != 20 {
		t.Errorf("after the conversion: journal_mode %s, integrity %s, %d deliveries; want wal, ok, 20", mode, check, n)
	}
	if m, err := sqlite.Migrate(ctx, path); err != nil || m.Converted {
		t.Errorf("migrating a converted file again: %+v, %v; want nothing done", m, err)
	}
}
