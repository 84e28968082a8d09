package postgres

import (
	"context"
	"time"

	"github.com/postbox/postbox/internal/prune"
)

// pruneDedupSQL deletes up to $2 expired dedup keys. Every instance prunes;
// the deletes skip rows another instance is deleting.
const pruneDedupSQL = `DELETE FROM dedup WHERE ctid IN
	(SELECT ctid FROM dedup WHERE expires <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`

// pruner deletes expired dedup keys every prune.Every until Close.
func (db *DB) pruner() {
	defer db.wg.Done()
	prune.Run(db.ctx.Done(), prune.Every, time.Now,
		func(before time.Time) error { _, err := db.PruneDedup(db.ctx, before); return err },
		func(err error) {
			if l := db.log.Load(); l != nil && db.ctx.Err() == nil {
				l.Warn("pruning expired dedup keys failed; retrying later", "err", err)
			}
		})
}

// PruneDedup deletes the dedup keys that expired before t, in batches, and
// returns how many it deleted.
func (db *DB) PruneDedup(ctx context.Context, t time.Time) (int64, error) {
	return prune.Batches(func() (int64, error) {
		tag, err := db.pool.Exec(ctx, pruneDedupSQL, t.UnixNano(), prune.Batch)
		return tag.RowsAffected(), err
	})
}
