package postgres

import (
	"context"
	"time"
)

// Expired dedup keys are deleted in the background: Append already ignores
// them, but without pruning the table keeps one row per provider delivery
// id forever. Every instance prunes; the deletes skip rows another
// instance is deleting.
const (
	pruneEvery = 10 * time.Minute
	pruneBatch = 1000
	// pruneSlack keeps a key a little past its expiry, so that a request
	// received just before the expiry (by any instance's clock) is still
	// compared with it.
	pruneSlack = time.Minute
)

const pruneDedupSQL = `DELETE FROM dedup WHERE ctid IN
	(SELECT ctid FROM dedup WHERE expires <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`

// pruner deletes expired dedup keys every pruneEvery until Close.
func (db *DB) pruner() {
	defer db.wg.Done()
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if _, err := db.PruneDedup(db.ctx, time.Now().Add(-pruneSlack)); err != nil && db.ctx.Err() == nil {
				if l := db.log.Load(); l != nil {
					l.Warn("pruning expired dedup keys failed; retrying later", "err", err)
				}
			}
		case <-db.ctx.Done():
			return
		}
	}
}

// PruneDedup deletes the dedup keys that expired before t, in batches, and
// returns how many it deleted.
func (db *DB) PruneDedup(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		tag, err := db.pool.Exec(ctx, pruneDedupSQL, t.UnixNano(), pruneBatch)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
}
