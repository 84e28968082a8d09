package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/config"
	"github.com/postbox/postbox/postgres"
	"github.com/postbox/postbox/sqlite"
)

const migrateUsage = `Usage: postbox migrate --config FILE

Brings the schema of the configured store up to date and says what it did.
On PostgreSQL (store: postgres://...) it applies the embedded migrations
that the database lacks, under an advisory lock, so it is safe while
instances run or start; postbox serve does the same when it starts. On
SQLite (data:) it creates the store when there is none and applies the
embedded migrations the file lacks (PRAGMA user_version), with the server
stopped; a file made before retention existed is also rewritten once
(VACUUM) so that it gives the space of pruned deliveries back to the disk,
which postbox serve does by itself only for files under 256 MiB, and a file
with pages of another size than 4 KiB is rewritten with 4 KiB pages, which
postbox serve never does by itself.
`

const storeUsage = `Usage: postbox store copy --from ADDR --to ADDR [--workers N]

Copies every delivery, with its attempts and its state, from one store to
another, to move an installation. ADDR is sqlite:PATH (a data directory, as
data: in a config, or a file ending in .db) or a postgres:// URL. Stop the servers on the
source first. Deliveries the destination has already are skipped, so an
interrupted copy can be run again. Pending deliveries resume on the
destination at once, where their attempts stopped. Dedup keys still within
their window are copied too, so that a repeat of a copied delivery is
still dropped as a duplicate.
`

// isPostgres says whether a store address is a PostgreSQL URL.
func isPostgres(addr string) bool {
	return strings.HasPrefix(addr, "postgres://") || strings.HasPrefix(addr, "postgresql://")
}

// runMigrate is `postbox migrate --config FILE`.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, migrateUsage) }
	path := fs.String("config", "postbox.yaml", "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return exitError(2)
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return exitError(2)
	}
	cfg, err := loadStoreConfig(*path, getenv, stderr)
	if err != nil {
		return err
	}
	name := storeName(cfg)
	if cfg.Store != "" {
		if !isPostgres(cfg.Store) {
			return fmt.Errorf("store %q: use postgres://user@host:5432/db (or leave it out for SQLite in data:)", cfg.Store)
		}
		m, err := postgres.Migrate(ctx, cfg.Store)
		if err != nil {
			return err
		}
		switch {
		case len(m.Applied) > 0:
			fmt.Fprintf(stdout, "%s: applied %s; schema at version %d\n", name, strings.Join(m.Applied, ", "), m.Version)
		case m.Version > m.Latest:
			fmt.Fprintf(stdout, "%s: schema at version %d, newer than this postbox knows (%d); nothing applied\n", name, m.Version, m.Latest)
		default:
			fmt.Fprintf(stdout, "%s: schema up to date at version %d; nothing applied\n", name, m.Version)
		}
		return nil
	}
	if err := os.MkdirAll(cfg.Data, dataDirMode); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	// A VACUUM (see sqlite.Migrate) must not run under a server.
	unlock, err := lockDir(cfg.Data)
	if err != nil {
		return err
	}
	defer unlock()
	m, err := sqlite.Migrate(ctx, dbPath(cfg))
	if err != nil {
		return err
	}
	switch {
	case len(m.Applied) > 0:
		fmt.Fprintf(stdout, "%s: applied %s; schema at version %d\n", name, strings.Join(m.Applied, ", "), m.Version)
	case m.Version > m.Latest:
		fmt.Fprintf(stdout, "%s: schema at version %d, newer than this postbox knows (%d); nothing applied\n", name, m.Version, m.Latest)
	default:
		fmt.Fprintf(stdout, "%s: schema up to date at version %d; nothing applied\n", name, m.Version)
	}
	if m.Converted {
		fmt.Fprintf(stdout, "%s: rewritten once (VACUUM) with %d-byte pages, giving the space of pruned deliveries back to the disk\n", name, m.PageSize)
	}
	return nil
}

// runStore is `postbox store copy`.
func runStore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "copy" {
		fmt.Fprint(stderr, storeUsage)
		return exitError(2)
	}
	fs := flag.NewFlagSet("store copy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, storeUsage) }
	from := fs.String("from", "", "the store to copy from: sqlite:`PATH` or postgres://...")
	to := fs.String("to", "", "the store to copy to: sqlite:`PATH` or postgres://...")
	workers := fs.Int("workers", 8, "deliveries copied at once")
	if err := fs.Parse(args[1:]); err != nil {
		return exitError(2)
	}
	switch {
	case fs.NArg() > 0 || *from == "" || *to == "":
		fs.Usage()
		return exitError(2)
	case *workers < 1:
		fmt.Fprintln(stderr, "postbox store copy: --workers must be at least 1")
		return exitError(2)
	}
	if a, b := sqlitePath(*from), sqlitePath(*to); *from == *to || (a != "" && a == b) {
		return fmt.Errorf("--from and --to are the same store")
	}
	src, srcName, closeSrc, err := openAddr(ctx, *from, false)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	defer closeSrc()
	dst, dstName, closeDst, err := openAddr(ctx, *to, true)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	defer closeDst()
	imp, ok := dst.(importer)
	if !ok {
		return fmt.Errorf("--to: %s cannot import deliveries", dstName)
	}
	st, err := copyStore(ctx, src, imp, *workers)
	fmt.Fprintf(stdout, "%s → %s: %d deliveries copied (%d attempts; %d pending, resumed at once), %d already there and skipped\n",
		srcName, dstName, st.copied, st.attempts, st.pending, st.skipped)
	if err != nil {
		return fmt.Errorf("copy stopped: %w (run it again to copy the rest)", err)
	}
	keys, err := copyDedup(ctx, src, dst)
	fmt.Fprintf(stdout, "%s → %s: %d dedup keys copied (live ones the destination lacked)\n", srcName, dstName, keys)
	if err != nil {
		return fmt.Errorf("copy stopped: %w (run it again to copy the rest)", err)
	}
	return nil
}

// importer is a store that can take a delivery as it is, attempts and
// state included (sqlite.DB and postgres.DB).
type importer interface {
	Import(ctx context.Context, d *postbox.Delivery) error
}

// openAddr opens the store at addr, a postgres:// URL or sqlite:PATH
// (see sqlitePath).
// A SQLite store that dst is true for is created when missing. A SQLite
// store's directory is locked as serve locks it, so that no server uses
// it during the copy. name describes the store without a password.
func openAddr(ctx context.Context, addr string, dst bool) (store postbox.Store, name string, closeFn func(), err error) {
	if isPostgres(addr) {
		name = storeName(&config.Config{Store: addr})
		db, err := postgres.Open(ctx, addr)
		if err != nil {
			return nil, "", nil, fmt.Errorf("open %s: %w", name, err)
		}
		return db, name, func() { db.Close() }, nil
	}
	path := sqlitePath(addr)
	if path == "" {
		return nil, "", nil, fmt.Errorf("%q: use sqlite:PATH (a data directory or a .db file) or postgres://user@host:5432/db", addr)
	}
	name = "sqlite:" + path
	dir := filepath.Dir(path)
	if _, err := os.Stat(path); err != nil {
		if !dst {
			return nil, "", nil, fmt.Errorf("no store at %s: %w", path, err)
		}
		if err := os.MkdirAll(dir, dataDirMode); err != nil {
			return nil, "", nil, fmt.Errorf("data directory: %w", err)
		}
	}
	unlock, err := lockDir(dir)
	if err != nil {
		return nil, "", nil, err
	}
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		unlock()
		return nil, "", nil, err
	}
	return db, name, func() { db.Close(); unlock() }, nil
}

// sqlitePath returns the database file that a sqlite:PATH address names,
// absolute, or "" when addr is no such address. PATH is a data directory,
// as data: in a config, unless it is an existing file or ends in .db.
func sqlitePath(addr string) string {
	path, ok := strings.CutPrefix(addr, "sqlite:")
	if !ok || path == "" {
		return ""
	}
	if fi, err := os.Stat(path); (err == nil && fi.IsDir()) || (err != nil && filepath.Ext(path) != ".db") {
		path = filepath.Join(path, "postbox.db")
	}
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	return path
}

// copyStats counts what copyStore did.
type copyStats struct {
	copied   int // deliveries imported
	attempts int // their attempts
	pending  int // of them pending, with a job on the destination
	skipped  int // deliveries the destination had already
}

// copyPage is how many deliveries copyStore lists at a time.
const copyPage = 1000

// copyStore copies every delivery of src into dst, newest first, with
// workers deliveries in flight. It stops at the first error, returning it
// with the counts so far.
func copyStore(ctx context.Context, src postbox.Store, dst importer, workers int) (copyStats, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu  sync.Mutex
		st  copyStats
		wg  sync.WaitGroup
		ids = make(chan string)
	)
	for range workers {
		wg.Go(func() {
			for id := range ids {
				d, err := src.Delivery(ctx, id)
				if err != nil {
					cancel(fmt.Errorf("read %s: %w", id, err))
					return
				}
				err = dst.Import(ctx, d)
				if err != nil && postbox.ErrorCode(err) != postbox.ECONFLICT {
					cancel(fmt.Errorf("write %s: %w", id, err))
					return
				}
				mu.Lock()
				if err != nil {
					st.skipped++
				} else {
					st.copied++
					st.attempts += len(d.Attempts)
					if d.State == postbox.StatePending && d.Actions > 0 {
						st.pending++
					}
				}
				mu.Unlock()
			}
		})
	}
	before := ""
list:
	for {
		ds, err := src.Deliveries(ctx, postbox.DeliveryFilter{Before: before, Limit: copyPage})
		if err != nil {
			cancel(fmt.Errorf("list: %w", err))
			break
		}
		for _, d := range ds {
			select {
			case ids <- d.ID:
			case <-ctx.Done():
				break list
			}
		}
		if len(ds) < copyPage {
			break
		}
		before = ds[len(ds)-1].ID
	}
	close(ids)
	wg.Wait()
	return st, context.Cause(ctx)
}
