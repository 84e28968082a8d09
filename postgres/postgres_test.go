package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/testenv"
	"github.com/postbox/postbox/storetest"
)

// defaultURL is the test database of the developer machines and CI;
// POSTBOX_TEST_POSTGRES overrides it.
const defaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// testURL returns the test database's URL, skipping t (or failing it under
// POSTBOX_REQUIRE_SERVICES=1) when the server is not reachable.
func testURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("POSTBOX_TEST_POSTGRES")
	if u == "" {
		testenv.Require(t, "PostgreSQL", testenv.PostgresAddr)
		return defaultURL
	}
	addr := testenv.PostgresAddr
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		addr = p.Host
		if p.Port() == "" {
			addr = net.JoinHostPort(p.Hostname(), "5432")
		}
	}
	testenv.Require(t, "PostgreSQL", addr)
	return u
}

// freshSchema makes an empty schema for one test, dropped when the test
// ends, and returns a URL whose search_path is that schema. extra adds
// query parameters (pool_max_conns, application_name...).
func freshSchema(t testing.TB, extra ...string) string {
	t.Helper()
	base := testURL(t)
	var b [6]byte
	rand.Read(b[:])
	schema := "pbtest_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	c, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", base, err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("options", strings.TrimSpace(q.Get("options")+" -c search_path="+schema))
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	// pgx reads "+" literally: spaces must be %20.
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	return u.String()
}

// openDB opens a store on url, closed when the test ends.
func openDB(t testing.TB, url string) *DB {
	t.Helper()
	db, err := Open(context.Background(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestStore(t *testing.T) {
	testURL(t)
	storetest.Run(t, func(t *testing.T) postbox.Store {
		db, err := Open(context.Background(), freshSchema(t))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
