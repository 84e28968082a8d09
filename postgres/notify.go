package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// notifySQL wakes the instances listening on Channel when the transaction
// that sends it commits.
const notifySQL = `SELECT pg_notify('` + Channel + `', '')`

// notifyAsyncSQL notifies in a transaction of its own that doesn't wait for
// its commit to reach the disk: a notification needs no durability, and
// the wait would hold the lock below for a disk flush.
const notifyAsyncSQL = `SELECT pg_notify('` + Channel + `', ''), set_config('synchronous_commit', 'off', true)`

// notifyWithin bounds one notification; a slower database is left to the
// listeners' polling.
const notifyWithin = 5 * time.Second

// notifySoon asks the notifier to send one NOTIFY on Channel. Requests
// made while one is pending or being sent are folded into the next, so a
// burst of appends sends a few notifications, not one each. It never
// blocks.
//
// Append notifies this way, after its commit, rather than inside its own
// transaction: PostgreSQL serialises the commits of notifying transactions
// (they hold a database-wide lock through the commit's disk flush), which
// would make concurrent appends wait for one another's fsync instead of
// sharing one (BenchmarkAppend: about 600/s either way with NOTIFY in the
// transaction, against several thousand without). The cost: if this
// process dies between the commit and the notification, the other
// instances find the job at their next poll instead of at once.
func (db *DB) notifySoon() {
	select {
	case db.notifyReq <- struct{}{}:
	default:
	}
}

// notifier sends the notifications that notifySoon asked for until Close.
func (db *DB) notifier() {
	defer db.wg.Done()
	for {
		select {
		case <-db.ctx.Done():
			return
		case <-db.notifyReq:
		}
		ctx, cancel := context.WithTimeout(db.ctx, notifyWithin)
		_, err := db.pool.Exec(ctx, notifyAsyncSQL, pgx.QueryExecModeSimpleProtocol)
		cancel()
		if err != nil && db.ctx.Err() == nil {
			db.logger().Warn("postgres: notify failed; other instances will find the work when they poll", "channel", Channel, "err", err)
		}
	}
}
