package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/postbox/postbox"
)

// Claim leases up to max due jobs until now+lease.
// A job of a hook in skipHooks (at its concurrency limit) is left alone,
// and so is a job whose ordering key an earlier unfinished delivery of its
// hook has.
func (db *DB) Claim(ctx context.Context, max int, lease time.Duration, skipHooks ...string) ([]*postbox.Job, error) {
	if max <= 0 {
		return nil, nil
	}
	skip := ""
	args := []any{}
	if len(skipHooks) > 0 {
		skip = " AND j.hook NOT IN (?" + strings.Repeat(", ?", len(skipHooks)-1) + ")"
		for _, h := range skipHooks {
			args = append(args, h)
		}
	}
	var jobs []*postbox.Job
	err := db.write(ctx, func(ctx context.Context, tx *wtx) error {
		jobs = jobs[:0]
		now := db.Now()
		q := `UPDATE jobs SET lease = ?
			WHERE delivery IN (SELECT j.delivery FROM jobs j WHERE j.due <= ? AND j.lease <= ?` + skip + `
				AND (j.key = '' OR NOT EXISTS (
					SELECT 1 FROM jobs e WHERE e.hook = j.hook AND e.key = j.key AND e.delivery < j.delivery))
				ORDER BY j.due, j.delivery LIMIT ?)
			RETURNING delivery, hook, series, action, attempt`
		qargs := append([]any{now.Add(lease).UnixNano(), now.UnixNano(), now.UnixNano()}, args...)
		rows, err := tx.QueryContext(ctx, q, append(qargs, max)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j := &postbox.Job{}
			if err := rows.Scan(&j.DeliveryID, &j.HookID, &j.Series, &j.Action, &j.Attempt); err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	return jobs, nil
}

// Finish records a and moves job on as next says.
func (db *DB) Finish(ctx context.Context, job *postbox.Job, a *postbox.Attempt, next postbox.JobTransition) error {
	err := db.write(ctx, func(ctx context.Context, tx *wtx) error {
		if a != nil {
			_, err := tx.ExecContext(ctx, `INSERT INTO attempts
				(delivery, series, action, n, kind, started, duration, outcome, exit_code, status, output, truncated, error)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				job.DeliveryID, job.Series, job.Action, job.Attempt+1, a.Kind, a.Started.UnixNano(), int64(a.Duration),
				string(a.Outcome), a.ExitCode, a.Status, a.Output, a.Truncated, a.Error)
			if err != nil {
				return err
			}
		}
		var actions int
		var failed bool
		err := tx.QueryRowContext(ctx, `SELECT d.actions, j.failed FROM jobs j JOIN deliveries d ON d.id = j.delivery
			WHERE j.delivery = ? AND j.series = ? AND j.action = ? AND j.attempt = ?`,
			job.DeliveryID, job.Series, job.Action, job.Attempt).Scan(&actions, &failed)
		if err == sql.ErrNoRows {
			return fmt.Errorf("job %s/%d/%d is no longer held", job.DeliveryID, job.Action, job.Attempt)
		}
		if err != nil {
			return err
		}
		now := db.Now().UnixNano()
		lease := int64(0)
		if next.Hold > 0 {
			lease = db.Now().Add(next.Hold).UnixNano()
		}
		advance := func(failed bool) error {
			_, err := tx.ExecContext(ctx, `UPDATE jobs SET action = action + 1, attempt = 0, due = ?, lease = ?, failed = ?
				WHERE delivery = ?`, now, lease, failed, job.DeliveryID)
			return err
		}
		end := func(state postbox.State) error {
			if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE delivery = ?`, job.DeliveryID); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `UPDATE deliveries SET state = ? WHERE id = ?`, string(state), job.DeliveryID)
			return err
		}
		last := job.Action+1 >= actions
		switch next.Next {
		case postbox.StateDone:
			if !last {
				return advance(failed)
			}
			if failed {
				return end(postbox.StateFailed)
			}
			return end(postbox.StateDone)
		case postbox.StatePending:
			_, err := tx.ExecContext(ctx, `UPDATE jobs SET attempt = attempt + 1, due = ?, lease = 0 WHERE delivery = ?`,
				next.RetryAt.UnixNano(), job.DeliveryID)
			return err
		case postbox.StateFailed, postbox.StateDead:
			if next.Continue && !last {
				return advance(true)
			}
			return end(next.Next)
		default:
			return fmt.Errorf("unknown next state %q", next.Next)
		}
	})
	if err != nil {
		return fmt.Errorf("finish %s action %d: %w", job.DeliveryID, job.Action, err)
	}
	return nil
}

// Release hands a claimed job back to be claimed again at once.
func (db *DB) Release(ctx context.Context, job *postbox.Job) error {
	err := db.write(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET lease = 0 WHERE delivery = ? AND series = ? AND action = ? AND attempt = ?`,
			job.DeliveryID, job.Series, job.Action, job.Attempt)
		return err
	})
	if err != nil {
		return fmt.Errorf("release %s: %w", job.DeliveryID, err)
	}
	return nil
}

// ReleaseAll hands back every leased job. Call it only when no other
// process uses the file (serve holds a lock on the data directory), after a
// crash left leases behind.
func (db *DB) ReleaseAll(ctx context.Context) error {
	return db.write(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `UPDATE jobs SET lease = 0 WHERE lease != 0`)
		return err
	})
}

// Replay starts a new series of attempts for delivery id.
func (db *DB) Replay(ctx context.Context, id string) error {
	return db.write(ctx, func(ctx context.Context, tx *wtx) error {
		var actions, series int
		err := tx.QueryRowContext(ctx, `SELECT actions, series FROM deliveries WHERE id = ?`, id).Scan(&actions, &series)
		if err == sql.ErrNoRows {
			return postbox.Errorf(postbox.ENOTFOUND, "no delivery %s", id)
		}
		if err != nil {
			return err
		}
		var busy int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE delivery = ?`, id).Scan(&busy); err != nil {
			return err
		}
		if busy > 0 {
			return postbox.Errorf(postbox.ECONFLICT, "delivery %s still has actions to run; replay it once it is done, failed or dead", id)
		}
		if actions == 0 {
			return postbox.Errorf(postbox.EINVALID, "delivery %s has no actions to replay", id)
		}
		series++
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET series = ?, state = ? WHERE id = ?`,
			series, string(postbox.StatePending), id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO jobs (delivery, hook, series, action, attempt, due, lease, failed, key)
			SELECT id, hook, ?, 0, 0, ?, 0, 0, key FROM deliveries WHERE id = ?`, series, db.Now().UnixNano(), id)
		return err
	})
}
