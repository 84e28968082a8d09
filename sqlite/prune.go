package sqlite

import (
	"context"
	"time"
)

// Expired dedup keys are deleted in the background: Append already ignores
// them, but without pruning the table keeps one row per provider delivery
// id forever.
const (
	pruneEvery = 10 * time.Minute
	pruneBatch = 1000
	// pruneSlack keeps a key a little past its expiry, so that a request
	// received just before the expiry is still compared with it.
	pruneSlack = time.Minute
)

// pruner deletes expired dedup keys every pruneEvery until Close.
func (db *DB) pruner() {
	defer db.wg.Done()
	t := time.NewTicker(pruneEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if _, err := db.PruneDedup(context.Background(), db.Now().Add(-pruneSlack)); err != nil {
				db.warn("pruning expired dedup keys failed; retrying later", "err", err)
			}
		case <-db.quit:
			return
		}
	}
}

// PruneDedup deletes the dedup keys that expired before t, a batch per
// write so that a large backlog never holds the writer for long, and
// returns how many it deleted.
func (db *DB) PruneDedup(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	for {
		var n int64
		err := db.write(ctx, func(ctx context.Context, tx *wtx) error {
			res, err := tx.ExecContext(ctx, `DELETE FROM dedup WHERE rowid IN
				(SELECT rowid FROM dedup WHERE expires <= ? LIMIT ?)`, t.UnixNano(), pruneBatch)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		total += n
		if err != nil || n < pruneBatch {
			return total, err
		}
	}
}
