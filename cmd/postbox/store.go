package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/config"
	"github.com/postbox/postbox/postgres"
	"github.com/postbox/postbox/sqlite"
)

func dbPath(cfg *config.Config) string { return filepath.Join(cfg.Data, "postbox.db") }

// dataDirMode is the mode of a data directory postbox creates: it holds
// every delivery received, and only postbox's own user needs it.
const dataDirMode = 0o700

// storeName describes the store for logs, without a password.
func storeName(cfg *config.Config) string {
	if cfg.Store == "" {
		return dbPath(cfg)
	}
	if i := strings.Index(cfg.Store, "@"); i >= 0 {
		if j := strings.Index(cfg.Store, "://"); j >= 0 && j < i {
			return cfg.Store[:j+3] + "…" + cfg.Store[i:]
		}
	}
	return cfg.Store
}

// openStore opens the store the config names. For the embedded store
// (SQLite in cfg.Data) and forServe, it takes the data directory's lock, so
// that two servers never share it, and takes back leases a crash left;
// PostgreSQL is shared by design and its leases expire by themselves.
func openStore(ctx context.Context, cfg *config.Config, forServe bool) (postbox.Store, func(), error) {
	if cfg.Store != "" {
		if !strings.HasPrefix(cfg.Store, "postgres://") && !strings.HasPrefix(cfg.Store, "postgresql://") {
			return nil, nil, fmt.Errorf("store %q: use postgres://user@host:5432/db (or leave it out for SQLite in data:)", cfg.Store)
		}
		db, err := postgres.Open(ctx, cfg.Store)
		if err != nil {
			return nil, nil, fmt.Errorf("open store %s: %w", storeName(cfg), err)
		}
		return db, func() { db.Close() }, nil
	}
	if !forServe {
		if _, err := os.Stat(dbPath(cfg)); err != nil {
			return nil, nil, fmt.Errorf("no store at %s: has postbox serve run with this config?", dbPath(cfg))
		}
		db, err := sqlite.Open(ctx, dbPath(cfg))
		if err != nil {
			return nil, nil, err
		}
		return db, func() { db.Close() }, nil
	}
	if err := os.MkdirAll(cfg.Data, dataDirMode); err != nil {
		return nil, nil, fmt.Errorf("data directory: %w", err)
	}
	unlock, err := lockDir(cfg.Data)
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlite.Open(ctx, dbPath(cfg))
	if err != nil {
		unlock()
		return nil, nil, err
	}
	if err := db.ReleaseAll(ctx); err != nil {
		db.Close()
		unlock()
		return nil, nil, fmt.Errorf("recover jobs: %w", err)
	}
	return db, func() { db.Close(); unlock() }, nil
}

// openStoreOf opens the store of the configuration load reads from path,
// for a command that reads or manages it (not serve): load is
// loadStoreConfig or loadRetentionConfig, which need none of the hooks'
// secrets.
func openStoreOf(ctx context.Context, load func(string, func(string) string, io.Writer) (*config.Config, error),
	path string, getenv func(string) string, stderr io.Writer) (*config.Config, postbox.Store, func(), error) {
	cfg, err := load(path, getenv, stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	db, closeStore, err := openStore(ctx, cfg, false)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, db, closeStore, nil
}
