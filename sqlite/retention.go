package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/postbox/postbox/internal/prune"
)

var (
	_ prune.Store = (*DB)(nil)
	_ prune.Sizer = (*DB)(nil)
)

// storedHooksSQL lists the distinct hooks by skipping through
// deliveries_hook, one seek per hook rather than a read of every row.
const storedHooksSQL = `WITH RECURSIVE h(hook) AS (
	SELECT min(hook) FROM deliveries
	UNION ALL
	SELECT (SELECT min(hook) FROM deliveries WHERE hook > h.hook) FROM h WHERE h.hook IS NOT NULL)
SELECT hook FROM h WHERE hook IS NOT NULL`

// StoredHooks lists the hooks that have deliveries.
func (db *DB) StoredHooks(ctx context.Context) ([]string, error) {
	rows, err := db.query(ctx, storedHooksSQL)
	if err != nil {
		return nil, fmt.Errorf("stored hooks: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, fmt.Errorf("stored hooks: %w", err)
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// cutWhere is the condition and arguments that select the deliveries c
// names, and the order in which they go (the oldest first). It always says
// state <> 'pending' in so many words, which lets SQLite use the partial
// indexes of migration 2, and that no job refers to the delivery.
func cutWhere(c prune.Cut) (where, order string, args []any) {
	conds := []string{`state <> 'pending'`}
	order = "received"
	if c.Hook != "" {
		conds, args = append(conds, "hook = ?"), append(args, c.Hook)
	}
	if c.State != "" {
		conds, args = append(conds, "state = ?"), append(args, string(c.State))
	}
	if !c.Received.IsZero() {
		conds, args = append(conds, "received < ?"), append(args, c.Received.UnixNano())
	}
	if c.Before != "" {
		conds, args = append(conds, "id < ?"), append(args, c.Before)
		order = "id"
	}
	conds = append(conds, "NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.delivery = deliveries.id)")
	return strings.Join(conds, " AND "), order, args
}

// DeleteDeliveries deletes up to limit of the settled deliveries c names,
// oldest first, with their attempts (ON DELETE CASCADE), in one write that
// shares the writer's commit with other callers.
func (db *DB) DeleteDeliveries(ctx context.Context, c prune.Cut, limit int) (int64, error) {
	where, order, args := cutWhere(c)
	// "? + 0", as in claimSQL: a bound LIMIT alone would be compiled again
	// whenever its value changes.
	q := `DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE ` + where +
		` ORDER BY ` + order + ` LIMIT ? + 0)`
	args = append(args, limit)
	var n int64
	err := db.write(ctx, func(ctx context.Context, tx *wtx) error {
		if _, err := tx.ExecContext(ctx, keepSeq); err != nil { // see relay.go
			return err
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("delete deliveries: %w", err)
	}
	return n, nil
}

// CountDeliveries counts the settled deliveries c names, from a reader.
func (db *DB) CountDeliveries(ctx context.Context, c prune.Cut) (int64, error) {
	where, _, args := cutWhere(c)
	var n int64
	if err := db.queryRow(ctx, `SELECT count(*) FROM deliveries WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count deliveries: %w", err)
	}
	return n, nil
}

// NthNewest returns the id of hook's nth newest delivery, or "".
func (db *DB) NthNewest(ctx context.Context, hook string, n int) (string, error) {
	if n <= 0 {
		return "", nil
	}
	var id string
	err := db.queryRow(ctx, `SELECT id FROM deliveries WHERE hook = ? ORDER BY id DESC LIMIT 1 OFFSET ? + 0`, hook, n-1).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("nth newest: %w", err)
	}
	return id, nil
}

// sizeSQL reads the file's pages in use and free, in bytes.
const sizeSQL = `SELECT (p.page_count - f.freelist_count) * s.page_size, f.freelist_count * s.page_size
	FROM pragma_page_count() p, pragma_freelist_count() f, pragma_page_size() s`

// Size says how many bytes the database holds in pages in use, in free
// pages, and in its WAL.
func (db *DB) Size(ctx context.Context) (prune.Size, error) {
	var s prune.Size
	if err := db.queryRow(ctx, sizeSQL).Scan(&s.Used, &s.Free); err != nil {
		return s, fmt.Errorf("size: %w", err)
	}
	if fi, err := os.Stat(db.walPath()); err == nil {
		s.WAL = fi.Size()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return s, fmt.Errorf("size: %w", err)
	}
	return s, nil
}

// walPath is the WAL file beside the database.
func (db *DB) walPath() string {
	if db.wal != nil {
		return db.wal.path
	}
	return db.path + "-wal"
}

// reclaimPages is how many free pages one write gives back: 4 MiB of 4 KiB
// pages, a few milliseconds of the writer's time.
const reclaimPages = 1024

// Reclaim gives the free pages that deletes left back to the disk
// (PRAGMA incremental_vacuum), a few at a time so that no write waits
// long, and then asks for a checkpoint: in WAL mode the file is truncated
// when the checkpoint copies the last of the vacuum's pages. A file with
// auto_vacuum off (too large to convert at start) keeps its free pages
// for new deliveries instead.
func (db *DB) Reclaim(ctx context.Context) error {
	if db.migration.Vacuum != "incremental" {
		return nil
	}
	for prev := int64(-1); ; {
		s, err := db.Size(ctx)
		if err != nil {
			return err
		}
		if s.Free == 0 || s.Free == prev {
			break
		}
		prev = s.Free
		err = db.write(ctx, func(ctx context.Context, tx *wtx) error {
			rows, err := tx.QueryContext(ctx, fmt.Sprintf("PRAGMA incremental_vacuum(%d)", reclaimPages))
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			rows.Close()
			return rows.Err()
		})
		if err != nil {
			return fmt.Errorf("reclaim: %w", err)
		}
	}
	select {
	case db.checkpoint <- struct{}{}:
	default: // one is running or asked for
	}
	return nil
}

var _ prune.Statser = (*DB)(nil)

// StoreStats describes the store: its size, its deliveries, the oldest
// and newest, those of the last 24 hours, and each hook's share (which
// reads every delivery's lengths, not its bytes).
func (db *DB) StoreStats(ctx context.Context, now time.Time) (prune.Stats, error) {
	var st prune.Stats
	var err error
	if st.Size, err = db.Size(ctx); err != nil {
		return st, err
	}
	var oldest, newest sql.NullInt64
	if err := db.queryRow(ctx, `SELECT count(*), min(received), max(received),
		(SELECT count(*) FROM deliveries WHERE received >= ?) FROM deliveries`,
		now.Add(-24*time.Hour).UnixNano()).Scan(&st.Rows, &oldest, &newest, &st.Last24h); err != nil {
		return st, fmt.Errorf("store stats: %w", err)
	}
	if oldest.Valid {
		st.Oldest, st.Newest = time.Unix(0, oldest.Int64).UTC(), time.Unix(0, newest.Int64).UTC()
	}
	rows, err := db.query(ctx, `SELECT hook, count(*), sum(length(body) + length(header) + length(query) + length(path))
		FROM deliveries GROUP BY hook ORDER BY hook`)
	if err != nil {
		return st, fmt.Errorf("store stats: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var h prune.HookBytes
		if err := rows.Scan(&h.Hook, &h.Rows, &h.Bytes); err != nil {
			return st, fmt.Errorf("store stats: %w", err)
		}
		st.Hooks = append(st.Hooks, h)
	}
	return st, rows.Err()
}
