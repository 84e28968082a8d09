package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// PostgresSchema makes an empty PostgreSQL schema named prefix_<random>
// for one test, dropped when the test ends, and returns a store URL whose
// search_path is that schema. Like Require, it skips (or fails under
// POSTBOX_REQUIRE_SERVICES=1) when PostgreSQL is not reachable;
// POSTBOX_TEST_POSTGRES names another server than 127.0.0.1:5432.
func PostgresSchema(t testing.TB, prefix string) string {
	t.Helper()
	base := os.Getenv("POSTBOX_TEST_POSTGRES")
	addr := PostgresAddr
	if base == "" {
		base = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	} else if u, err := url.Parse(base); err == nil && u.Port() != "" {
		addr = u.Host
	}
	Require(t, "PostgreSQL", addr)
	var b [6]byte
	rand.Read(b[:])
	schema := prefix + "_" + hex.EncodeToString(b[:])
	exec := func(sql string) error {
		ctx := context.Background()
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			return err
		}
		defer c.Close(ctx)
		_, err = c.Exec(ctx, sql)
		return err
	}
	if err := exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if err := exec("DROP SCHEMA " + schema + " CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
