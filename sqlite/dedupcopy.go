package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/postbox/postbox/internal/storerow"
)

// DedupKeys lists up to limit dedup keys still live at now, in (hook,
// key) order after the one named by after (from the start when it is the
// zero value), for postbox store copy.
func (db *DB) DedupKeys(ctx context.Context, after storerow.DedupKey, now time.Time, limit int) ([]storerow.DedupKey, error) {
	rows, err := db.query(ctx, `SELECT hook, key, delivery, expires FROM dedup
		WHERE (hook, key) > (?, ?) AND expires > ? ORDER BY hook, key LIMIT ? + 0`,
		after.Hook, after.Key, now.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("dedup keys: %w", err)
	}
	defer rows.Close()
	var out []storerow.DedupKey
	for rows.Next() {
		var k storerow.DedupKey
		var expires int64
		if err := rows.Scan(&k.Hook, &k.Key, &k.Delivery, &expires); err != nil {
			return nil, fmt.Errorf("dedup keys: %w", err)
		}
		k.Expires = time.Unix(0, expires).UTC()
		out = append(out, k)
	}
	return out, rows.Err()
}

// ImportDedup stores keys as they are, in one write; a key the store has
// already (for the same hook) is left as it is. It returns how many it
// stored.
func (db *DB) ImportDedup(ctx context.Context, keys []storerow.DedupKey) (int64, error) {
	var n int64
	err := db.write(ctx, func(ctx context.Context, tx *wtx) error {
		n = 0
		for _, k := range keys {
			res, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO dedup (hook, key, delivery, expires) VALUES (?, ?, ?, ?)`,
				k.Hook, k.Key, k.Delivery, k.Expires.UnixNano())
			if err != nil {
				return err
			}
			m, _ := res.RowsAffected()
			n += m
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("import dedup keys: %w", err)
	}
	return n, nil
}
