package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/postbox/postbox/internal/storerow"
)

// DedupKeys lists up to limit dedup keys still live at now, in (hook,
// key) order after the one named by after (from the start when it is the
// zero value), for postbox store copy.
func (db *DB) DedupKeys(ctx context.Context, after storerow.DedupKey, now time.Time, limit int) ([]storerow.DedupKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT hook, key, delivery, expires FROM dedup
		WHERE (hook, key) > ($1, $2) AND expires > $3 ORDER BY hook, key LIMIT $4`,
		after.Hook, []byte(after.Key), now.UnixNano(), limit)
	if err != nil {
		return nil, fmt.Errorf("dedup keys: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storerow.DedupKey, error) {
		var k storerow.DedupKey
		var key []byte
		var expires int64
		err := r.Scan(&k.Hook, &key, &k.Delivery, &expires)
		k.Key, k.Expires = string(key), time.Unix(0, expires).UTC()
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("dedup keys: %w", err)
	}
	return out, nil
}

// ImportDedup stores keys as they are, in one transaction; a key the
// store has already (for the same hook) is left as it is. It returns how
// many it stored.
func (db *DB) ImportDedup(ctx context.Context, keys []storerow.DedupKey) (int64, error) {
	var n int64
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, k := range keys {
			b.Queue(`INSERT INTO dedup (hook, key, delivery, expires) VALUES ($1, $2, $3, $4) ON CONFLICT (hook, key) DO NOTHING`,
				k.Hook, []byte(k.Key), k.Delivery, k.Expires.UnixNano()).Exec(func(tag pgconn.CommandTag) error {
				n += tag.RowsAffected()
				return nil
			})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, fmt.Errorf("import dedup keys: %w", err)
	}
	return n, nil
}
