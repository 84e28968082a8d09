package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/postbox/postbox"
)

var _ postbox.Backlogger = (*DB)(nil)

// backlogSQL counts the jobs left, those due and unclaimed, those claimed,
// and finds the oldest due time (jobs_due makes that a seek).
const backlogSQL = `SELECT count(*), coalesce(sum(due <= ?1 AND lease <= ?1), 0), coalesce(sum(lease > ?1), 0),
	(SELECT min(due) FROM jobs WHERE due <= ?1) FROM jobs`

// Backlog says how much work waits in the store, from a reader.
func (db *DB) Backlog(ctx context.Context) (postbox.Backlog, error) {
	var b postbox.Backlog
	var oldest sql.NullInt64
	now := db.Now().UnixNano()
	if err := db.queryRow(ctx, backlogSQL, now).Scan(&b.Jobs, &b.Due, &b.Leased, &oldest); err != nil {
		return b, fmt.Errorf("backlog: %w", err)
	}
	if oldest.Valid {
		b.OldestDue = time.Unix(0, oldest.Int64).UTC()
	}
	return b, nil
}
