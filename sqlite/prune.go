package sqlite

import (
	"context"
	"strconv"
	"time"

	"github.com/postbox/postbox/internal/prune"
)

// pruneDedupSQL deletes up to prune.Batch expired dedup keys. The batch is
// written into the text rather than bound: the writer keeps the statement
// compiled, and a bound LIMIT can make SQLite compile it again at every
// call (see claimSQL).
var pruneDedupSQL = `DELETE FROM dedup WHERE rowid IN
	(SELECT rowid FROM dedup WHERE expires <= ? LIMIT ` + strconv.Itoa(prune.Batch) + `)`

// pruner deletes expired dedup keys every prune.Every until Close.
func (db *DB) pruner() {
	defer db.wg.Done()
	prune.Run(db.quit, prune.Every, db.Now,
		func(before time.Time) error { _, err := db.PruneDedup(context.Background(), before); return err },
		func(err error) { db.warn("pruning expired dedup keys failed; retrying later", "err", err) })
}

// PruneDedup deletes the dedup keys that expired before t, a batch per
// write so that a large backlog never holds the writer for long, and
// returns how many it deleted.
func (db *DB) PruneDedup(ctx context.Context, t time.Time) (int64, error) {
	return prune.Batches(func() (n int64, err error) {
		err = db.write(ctx, func(ctx context.Context, tx *wtx) error {
			res, err := tx.ExecContext(ctx, pruneDedupSQL, t.UnixNano())
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		return n, err
	})
}
