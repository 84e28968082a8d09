package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"github.com/postbox/postbox/internal/migrations"
	"net/url"
	"strconv"
)

// migrationFiles holds the schema as numbered steps, NNNN_name.sql, as the
// postgres package does. A step, once released, is never edited: a change
// is a new file. The version a database is at is its user_version.
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// steps returns the embedded steps in version order.
func steps() ([]migrations.Step, error) {
	return migrations.Load(migrationFiles, "migrations/*.sql")
}

// Migration is what opening a database did to its schema.
type Migration struct {
	Applied []string // the steps applied, as 0001_init.sql
	Version int      // the schema's version afterwards (PRAGMA user_version)
	Latest  int      // the newest version this binary knows
	// Vacuum says how the file returns the space of deleted rows:
	// "incremental" (auto_vacuum=INCREMENTAL, as postbox creates files)
	// or "none" (a file from before retention too large to convert at
	// start; see Options.Convert).
	Vacuum string
	// Converted is set when this open switched the file to incremental
	// auto-vacuum or, in Migrate, to postbox's page size, which rewrote
	// it once (VACUUM).
	Converted bool
	// PageSize is the file's page size afterwards: 4096 in a file postbox
	// made or Migrate converted.
	PageSize int
}

// convertBelow is the largest file that Open converts to incremental
// auto-vacuum by itself: a VACUUM rewrites the whole file, which takes a
// while and as much free disk again; postbox migrate converts any size.
const convertBelow = 256 << 20

// migrate brings the schema of the database behind the writer's one
// connection up to date: every step the file lacks is applied with the version, all in one
// IMMEDIATE transaction, so that two processes opening the file at once
// apply each step once. A file from before versioned migrations (version
// 0 with tables) is recognized by step 1, whose statements all say IF NOT
// EXISTS. convertAny converts a file with auto_vacuum off whatever its
// size; otherwise only below convertBelow.
func migrate(ctx context.Context, w *sql.DB, convertAny bool) (*Migration, error) {
	steps, err := steps()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	m := &Migration{Latest: len(steps)}
	tx, err := w.BeginTx(ctx, nil) // IMMEDIATE: the DSN says _txlock=immediate
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	for _, s := range steps {
		if s.Version <= version {
			continue
		}
		if _, err := tx.ExecContext(ctx, s.SQL); err != nil {
			return nil, fmt.Errorf("migrate: %s: %w", s.Name, err)
		}
		// PRAGMA takes no parameters; the version is a number.
		if _, err := tx.ExecContext(ctx, `PRAGMA user_version = `+strconv.Itoa(s.Version)); err != nil {
			return nil, fmt.Errorf("migrate: %s: %w", s.Name, err)
		}
		m.Applied = append(m.Applied, s.Name)
		version = s.Version
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	m.Version = version
	if m.Converted, err = convertVacuum(ctx, w, convertAny); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if m.Vacuum, err = vacuumMode(ctx, w); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	if m.PageSize, err = pageSizeOf(ctx, w); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return m, nil
}

// vacuumMode reads PRAGMA auto_vacuum as a word.
func vacuumMode(ctx context.Context, w *sql.DB) (string, error) {
	var mode int
	if err := w.QueryRowContext(ctx, `PRAGMA auto_vacuum`).Scan(&mode); err != nil {
		return "", err
	}
	return map[int]string{0: "none", 1: "full", 2: "incremental"}[mode], nil
}

// convertVacuum switches a file made before retention (auto_vacuum off:
// deleted rows' pages are reused but never given back to the disk) to
// incremental auto-vacuum, which takes a VACUUM. It does so for a file
// below convertBelow, or any when any is set, and says whether it did.
// With any set (postbox migrate), a file with pages other than pageSize
// gets pageSize in the same VACUUM; that needs the file out of WAL mode while it runs, so
// no other connection may have it open.
func convertVacuum(ctx context.Context, w *sql.DB, any bool) (bool, error) {
	mode, err := vacuumMode(ctx, w)
	if err != nil {
		return false, err
	}
	var size, page int64
	if err := w.QueryRowContext(ctx, `SELECT page_count * page_size, page_size FROM pragma_page_count, pragma_page_size`).Scan(&size, &page); err != nil {
		return false, err
	}
	repage := any && page != pageSize
	if mode == "incremental" && !repage || !any && size >= convertBelow {
		return false, nil
	}
	if _, err := w.ExecContext(ctx, `PRAGMA auto_vacuum = INCREMENTAL`); err != nil {
		return false, err
	}
	if !repage {
		if _, err := w.ExecContext(ctx, `VACUUM`); err != nil {
			return false, fmt.Errorf("vacuum (to return deleted rows' space to the disk): %w", err)
		}
		return true, nil
	}
	// A WAL file's page size is fixed: VACUUM changes it only in
	// rollback-journal mode.
	for _, q := range []string{`PRAGMA journal_mode = DELETE`, `PRAGMA page_size = ` + strconv.Itoa(pageSize), `VACUUM`, `PRAGMA journal_mode = WAL`} {
		if _, err := w.ExecContext(ctx, q); err != nil {
			return false, fmt.Errorf("vacuum (to %d-byte pages): %s: %w", pageSize, q, err)
		}
	}
	return true, nil
}

// pageSizeOf reads PRAGMA page_size.
func pageSizeOf(ctx context.Context, w *sql.DB) (int, error) {
	var n int
	err := w.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&n)
	return n, err
}

// Migrate brings the schema of the database file at path up to date as
// Open does, creating the file when missing, and reports what it did, for
// postbox migrate. Unlike Open, it converts a file of any size to
// incremental auto-vacuum, and to postbox's page size. The directory must exist; no server may be
// using the file (postbox migrate takes the data directory's lock).
func Migrate(ctx context.Context, path string) (*Migration, error) {
	restrictFiles(path)
	if err := create(ctx, path); err != nil {
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	w, err := sql.Open(driverName, dsn(path))
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	m, err := migrate(ctx, w, true)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	restrictFiles(path)
	return m, nil
}

// pageSize is the page size of the files postbox creates, and the one
// postbox migrate converts a file to. 16 KiB pages store a delivery in
// fewer bytes (3.0 instead of 4.4 KB) and won in a micro-benchmark of
// batches of 64, but every commit writes each page it changes to the WAL
// whole, and the harness's requests commit in small groups (one at a
// time at 1 connection): with 16 KiB pages its scenario b cost 10-20%
// more CPU per request at 1 and 64 connections, in the same sitting as
// 4 KiB (docs/performance.md, "Issue 23"). A quiet router, committing
// one delivery at a time, would also write four times the bytes to its
// flash. So 4 KiB, SQLite's default; a file made with 16 KiB pages (by
// a build of the days it was the default) works as it is.
const pageSize = 4096

// create makes the database file at path when it is missing or empty,
// with postbox's page size and incremental auto-vacuum, in WAL mode. Both
// settings hold only if they come before the file is switched to WAL,
// which the connections of dsn do first thing (modernc.org/sqlite runs a
// DSN's pragmas in alphabetical order: journal_mode before page_size). An
// existing file is left as it is.
func create(ctx context.Context, path string) error {
	c, err := sql.Open(driverName, "file:"+(&url.URL{Path: path}).EscapedPath()+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetMaxOpenConns(1)
	var pages int
	if err := c.QueryRowContext(ctx, `PRAGMA page_count`).Scan(&pages); err != nil || pages > 0 {
		return err
	}
	for _, p := range []string{"page_size = " + strconv.Itoa(pageSize), "auto_vacuum = INCREMENTAL", "journal_mode = WAL"} {
		if _, err := c.ExecContext(ctx, "PRAGMA "+p); err != nil {
			return fmt.Errorf("create: PRAGMA %s: %w", p, err)
		}
	}
	return nil
}

// dsn is the driver's name for the database at path, with the pragmas
// every connection needs. auto_vacuum does nothing in a file that exists
// (create made it). temp_store=MEMORY keeps the statement journal of a
// multi-row INSERT in memory: in a temporary file, it cost more than the
// rows it batched.
func dsn(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=auto_vacuum(INCREMENTAL)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(ON)&_pragma=temp_store(MEMORY)&_txlock=immediate"
}
