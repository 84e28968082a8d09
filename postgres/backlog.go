package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/postbox/postbox"
)

var _ postbox.Backlogger = (*DB)(nil)

// backlogSQL counts the jobs left, those due and unclaimed, those claimed,
// and finds the oldest due time, on the database's clock.
const backlogSQL = `WITH n AS (SELECT ` + nowNS + ` AS now)
SELECT count(*), count(*) FILTER (WHERE due <= n.now AND lease <= n.now), count(*) FILTER (WHERE lease > n.now),
	min(due) FILTER (WHERE due <= n.now)
FROM jobs, n`

// Backlog says how much work waits in the store.
func (db *DB) Backlog(ctx context.Context) (postbox.Backlog, error) {
	var b postbox.Backlog
	var oldest *int64
	if err := db.pool.QueryRow(ctx, backlogSQL).Scan(&b.Jobs, &b.Due, &b.Leased, &oldest); err != nil {
		return b, fmt.Errorf("backlog: %w", err)
	}
	if oldest != nil {
		b.OldestDue = time.Unix(0, *oldest).UTC()
	}
	return b, nil
}
