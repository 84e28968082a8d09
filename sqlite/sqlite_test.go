package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/sqlite"
	"github.com/postbox/postbox/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) postbox.Store {
		db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "postbox.db"))
		if err != nil {
			t.Fatal(err)
		}
		return db
	})
}
