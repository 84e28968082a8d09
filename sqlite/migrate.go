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
	// auto-vacuum, which rewrote it once (VACUUM).
	Converted bool
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
func convertVacuum(ctx context.Context, w *sql.DB, any bool) (bool, error) {
	mode, err := vacuumMode(ctx, w)
	if err != nil || mode == "incremental" {
		return false, err
	}
	var size int64
	if err := w.QueryRowContext(ctx, `SELECT page_count * page_size FROM pragma_page_count, pragma_page_size`).Scan(&size); err != nil {
		return false, err
	}
	if !any && size >= convertBelow {
		return false, nil
	}
	if _, err := w.ExecContext(ctx, `PRAGMA auto_vacuum = INCREMENTAL`); err != nil {
		return false, err
	}
	if _, err := w.ExecContext(ctx, `VACUUM`); err != nil {
		return false, fmt.Errorf("vacuum (to return deleted rows' space to the disk): %w", err)
	}
	return true, nil
}

// Migrate brings the schema of the database file at path up to date as
// Open does, creating the file when missing, and reports what it did, for
// postbox migrate. Unlike Open, it converts a file of any size to
// incremental auto-vacuum. The directory must exist; no server may be
// using the file (postbox migrate takes the data directory's lock).
func Migrate(ctx context.Context, path string) (*Migration, error) {
	restrictFiles(path)
	w, err := sql.Open("sqlite", dsn(path))
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

// dsn is the driver's name for the database at path, with the pragmas
// every connection needs. auto_vacuum comes first: it takes effect only in
// a file that has no table yet and is not yet in WAL mode (a new one), and
// does nothing in any other.
func dsn(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=auto_vacuum(INCREMENTAL)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_txlock=immediate"
}
