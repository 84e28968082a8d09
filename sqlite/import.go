package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/storerow"
)

// Import stores d exactly as it is, for moving an installation from one
// store to another (postbox store copy): its fields, state, series and
// attempts, where Append would make a new pending delivery. A pending d
// gets a job that resumes its actions where its attempts stopped, due now
// and free to claim (see Delivery.ResumeAt); its lease and retry time in the store
// it came from are not carried over. A d whose id is already stored is an
// ECONFLICT error and changes nothing. Dedup entries are not made here:
// ImportDedup copies them, as postbox store copy does after the deliveries.
//
// Imports share the writer's group commit like every other write, so
// concurrent callers import faster than one at a time.
func (db *DB) Import(ctx context.Context, d *postbox.Delivery) error {
	row, err := storerow.Of(d)
	if err != nil {
		return fmt.Errorf("import %s: %w", d.ID, err)
	}
	err = db.write(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO deliveries
			(id, hook, method, path, query, header, body, remote, received, path_values, actions, key, state, dedup_key, duplicate_of, series, seq)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, `+nextSeq+`)`,
			d.ID, d.HookID, d.Method, d.Path, row.Query, row.Header, row.Body, d.RemoteAddr,
			row.Received, row.PathValues, d.Actions, d.Key, string(d.State), d.DedupKey, d.DuplicateOf, d.Series, 1)
		if err != nil {
			return err
		}
		for _, a := range d.Attempts {
			_, err := tx.ExecContext(ctx, `INSERT INTO attempts
				(delivery, series, action, n, kind, started, duration, outcome, exit_code, status, output, truncated, error)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				d.ID, a.Series, a.Action, a.N, a.Kind, a.Started.UnixNano(), int64(a.Duration), string(a.Outcome),
				a.ExitCode, a.Status, a.Output, a.Truncated, a.Error)
			if err != nil {
				return fmt.Errorf("attempt %d/%d/%d: %w", a.Series, a.Action, a.N, err)
			}
		}
		if d.State != postbox.StatePending || d.Actions == 0 {
			return nil
		}
		action, attempt, failed := d.ResumeAt()
		_, err = tx.ExecContext(ctx, `INSERT INTO jobs (delivery, hook, series, action, attempt, due, lease, failed, key)
			VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)`, d.ID, d.HookID, d.Series, action, attempt, db.Now().UnixNano(), failed, d.Key)
		return err
	})
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE constraint failed: deliveries.id") {
			return postbox.Errorf(postbox.ECONFLICT, "delivery %s already exists", d.ID)
		}
		return fmt.Errorf("import %s: %w", d.ID, err)
	}
	return nil
}
