package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/postbox/postbox"
)

// claimSQL leases up to ? due, unleased jobs: not of the hooks in the JSON
// array ?, nor of the actions in the JSON array ? of [hook, action] pairs
// (an uncorrelated IN: SQLite reads each array once into an ephemeral
// index, rather than once per row as a correlated NOT EXISTS did, which
// cost 62% of a draining server's CPU with every command skipped), nor a job whose ordering key an earlier unfinished delivery of
// its hook has (saying that e.key is not empty lets SQLite use the partial
// index jobs_key).
// The statement's text never changes, so that the writer compiles it once.
// Its LIMIT is "? + 0", not "?": with a bare bound LIMIT, SQLite compiled
// the statement again at every call in a running server (sqlite3Reprepare
// under each claim in perf: 63% of Advance's CPU), which an expression, as
// a literal, avoids. A bare bound LIMIT can make the planner depend on the
// value bound, and a new value then stales the compiled statement.
//
// A job whose lease ran out while held (lease not 0) is taken over: its
// attempt counter moves on, for the interrupted attempt that claim records.
// SQLite's RETURNING sees only the new row, so the claim says which jobs it
// took over in the token's lowest bit: the lease bound is even, and one is
// added for a takeover (see claim).
const claimSQL = `UPDATE jobs SET lease = ? + (lease != 0), attempt = attempt + (lease != 0), holder = ?
	WHERE delivery IN (SELECT j.delivery FROM jobs j WHERE j.due <= ? AND j.lease <= ?
		AND j.hook NOT IN (SELECT value FROM json_each(?))
		AND (j.hook, j.action) NOT IN (SELECT value ->> '$[0]', value ->> '$[1]' FROM json_each(?))
		AND (j.key = '' OR NOT EXISTS (
			SELECT 1 FROM jobs e WHERE e.hook = j.hook AND e.key = j.key AND e.key != '' AND e.delivery < j.delivery))
		ORDER BY j.due, j.delivery LIMIT ? + 0)
	RETURNING delivery, hook, series, action, attempt, lease`

// dueSQL says whether a job may be due for a claim: a read, to spare the
// writer a transaction when the queue looks for work and there is none.
// It ignores ordering keys, so it may say yes when a claim finds nothing.
const dueSQL = `SELECT EXISTS (SELECT 1 FROM jobs WHERE due <= ? AND lease <= ?
	AND hook NOT IN (SELECT value FROM json_each(?))
	AND (hook, action) NOT IN (SELECT value ->> '$[0]', value ->> '$[1]' FROM json_each(?)))`

// Advance finishes s.Done, releases s.Release and claims up to s.Claim jobs
// in one write, which shares its commit with other callers' writes. With
// nothing to finish or release it first asks a reader whether any job is
// due, so that an idle queue's polls cost the writer nothing.
func (db *DB) Advance(ctx context.Context, s postbox.Step) ([]*postbox.Job, []error, error) {
	skip, err := skipJSON(s.Skip, s.SkipActions)
	if err != nil {
		return nil, nil, fmt.Errorf("advance: %w", err)
	}
	if len(s.Done) == 0 && len(s.Release) == 0 && len(s.Defer) == 0 {
		if s.Claim <= 0 {
			return nil, nil, nil
		}
		now := db.Now().UnixNano()
		var due bool
		if err := db.queryRow(ctx, dueSQL, now, now, skip.hooks, skip.actions).Scan(&due); err != nil {
			return nil, nil, fmt.Errorf("advance: %w", err)
		}
		if !due {
			return nil, nil, nil
		}
	}
	failed := make([]error, len(s.Done))
	leases := make([]int64, len(s.Done)) // the next jobs' tokens, with Next.Hold
	var jobs []*postbox.Job
	err = db.write(ctx, func(ctx context.Context, tx *wtx) error {
		// The writer may run this twice (again, with a savepoint, when
		// another write of its batch failed): start afresh.
		jobs = nil
		clear(failed)
		clear(leases)
		for i, d := range s.Done {
			held, lease, err := finish(ctx, tx, db.Now(), d)
			if err != nil {
				return fmt.Errorf("finish %s action %d: %w", d.Job.DeliveryID, d.Job.Action, err)
			}
			if !held {
				failed[i] = fmt.Errorf("finish %s action %d: %w", d.Job.DeliveryID, d.Job.Action, notHeld(d.Job))
			}
			leases[i] = lease
		}
		for _, j := range s.Release {
			if err := release(ctx, tx, j); err != nil {
				return fmt.Errorf("release %s: %w", j.DeliveryID, err)
			}
		}
		for _, d := range s.Defer {
			if err := deferJobs(ctx, tx, db.Now(), d); err != nil {
				return fmt.Errorf("defer %s action %d: %w", d.Action.Hook, d.Action.Action, err)
			}
		}
		if s.Claim <= 0 {
			return nil
		}
		var err error
		if jobs, err = claim(ctx, tx, db.Now(), s.Claim, s.Lease, skip, db.holderID()); err != nil {
			return fmt.Errorf("claim: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("advance: %w", err)
	}
	// Committed: a holder keeps the next action's job with its token.
	for i, d := range s.Done {
		if leases[i] != 0 && failed[i] == nil {
			d.Job.Lease = leases[i]
		}
	}
	return jobs, failed, nil
}

// skips are the JSON arrays that claimSQL and dueSQL take (as text: SQLite
// reads a blob as JSONB): hook ids, and [hook, action] pairs.
type skips struct{ hooks, actions string }

func skipJSON(hooks []string, actions []postbox.ActionRef) (skips, error) {
	sk := skips{hooks: "[]", actions: "[]"}
	if len(hooks) > 0 {
		b, err := json.Marshal(hooks)
		if err != nil {
			return sk, err
		}
		sk.hooks = string(b)
	}
	if len(actions) > 0 {
		pairs := make([][2]any, len(actions))
		for i, a := range actions {
			pairs[i] = [2]any{a.Hook, a.Action}
		}
		b, err := json.Marshal(pairs)
		if err != nil {
			return sk, err
		}
		sk.actions = string(b)
	}
	return sk, nil
}

func claim(ctx context.Context, tx *wtx, now time.Time, max int, lease time.Duration, skip skips, holder string) ([]*postbox.Job, error) {
	rows, err := tx.QueryContext(ctx, claimSQL, now.Add(lease).UnixNano()&^1, holder, now.UnixNano(), now.UnixNano(), skip.hooks, skip.actions, max)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var jobs, taken []*postbox.Job
	for rows.Next() {
		j := &postbox.Job{}
		if err := rows.Scan(&j.DeliveryID, &j.HookID, &j.Series, &j.Action, &j.Attempt, &j.Lease); err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
		if j.Lease&1 == 1 {
			taken = append(taken, j)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	for _, j := range taken {
		if err := interrupted(ctx, tx, now, j); err != nil {
			return nil, err
		}
	}
	return jobs, nil
}

// interruptedSQL records the attempt of a job whose lease ran out while
// held; the claim that took it over already counted it in jobs.attempt.
const interruptedSQL = `INSERT INTO attempts
	(delivery, series, action, n, kind, started, duration, outcome, exit_code, status, output, truncated, error)
	VALUES (?, ?, ?, ?, '', ?, 0, '` + string(postbox.OutcomeInterrupted) + `', 0, 0, '', 0, '` + interruptedError + `')
	ON CONFLICT DO NOTHING`

// interruptedError is the error of an interrupted attempt, as both stores
// write it.
const interruptedError = "lease expired while held: the instance that held the job stopped renewing it (it died, stalled or lost the database); taken over"

func interrupted(ctx context.Context, tx *wtx, now time.Time, j *postbox.Job) error {
	_, err := tx.ExecContext(ctx, interruptedSQL, j.DeliveryID, j.Series, j.Action, j.Attempt, now.UnixNano())
	return err
}

var _ postbox.Renewer = (*DB)(nil)

// renewSQL extends a job's lease if it still holds the claim's token.
const renewSQL = `UPDATE jobs SET lease = ? WHERE delivery = ? AND series = ? AND action = ? AND attempt = ? AND lease = ?`

// Renew extends the leases of jobs still held with their tokens, in one
// write.
func (db *DB) Renew(ctx context.Context, jobs []*postbox.Job, lease time.Duration) ([]int64, error) {
	leases := make([]int64, len(jobs))
	if len(jobs) == 0 {
		return leases, nil
	}
	err := db.write(ctx, func(ctx context.Context, tx *wtx) error {
		clear(leases)
		until := db.Now().Add(lease).UnixNano()
		for i, j := range jobs {
			res, err := tx.ExecContext(ctx, renewSQL, until, j.DeliveryID, j.Series, j.Action, j.Attempt, j.Lease)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			if n > 0 {
				leases[i] = until
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	return leases, nil
}

func notHeld(job *postbox.Job) error {
	return fmt.Errorf("job %s/%d/%d with lease %d: %w", job.DeliveryID, job.Action, job.Attempt, job.Lease, postbox.ErrFenced)
}

// finish records d's attempt and moves its job on, unless the job is no
// longer the one d's worker claimed with its token (held is false then,
// and nothing is written). With a Hold, lease is the token of the next
// action's job, held by the caller.
func finish(ctx context.Context, tx *wtx, clock time.Time, d postbox.Done) (held bool, lease int64, err error) {
	job, a, next := d.Job, d.Attempt, d.Next
	var actions int
	var failed bool
	err = tx.QueryRowContext(ctx, `SELECT d.actions, j.failed FROM jobs j JOIN deliveries d ON d.id = j.delivery
		WHERE j.delivery = ? AND j.series = ? AND j.action = ? AND j.attempt = ? AND j.lease = ?`,
		job.DeliveryID, job.Series, job.Action, job.Attempt, job.Lease).Scan(&actions, &failed)
	if err == sql.ErrNoRows {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, err
	}
	if a != nil {
		_, err := tx.ExecContext(ctx, `INSERT INTO attempts
			(delivery, series, action, n, kind, started, duration, outcome, exit_code, status, output, truncated, error)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			job.DeliveryID, job.Series, job.Action, job.Attempt+1, a.Kind, a.Started.UnixNano(), int64(a.Duration),
			string(a.Outcome), a.ExitCode, a.Status, a.Output, a.Truncated, a.Error)
		if err != nil {
			return false, 0, err
		}
	}
	now := clock.UnixNano()
	if next.Hold > 0 {
		lease = clock.Add(next.Hold).UnixNano()
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
		switch {
		case !last:
			err = advance(failed)
		case failed:
			err = end(postbox.StateFailed)
		default:
			err = end(postbox.StateDone)
		}
	case postbox.StatePending:
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET attempt = attempt + 1, due = ?, lease = 0 WHERE delivery = ?`,
			next.RetryAt.UnixNano(), job.DeliveryID)
	case postbox.StateFailed, postbox.StateDead:
		if next.Continue && !last {
			err = advance(true)
		} else {
			err = end(next.Next)
		}
	default:
		err = fmt.Errorf("unknown next state %q", next.Next)
	}
	return err == nil, lease, err
}

func release(ctx context.Context, tx *wtx, job *postbox.Job) error {
	// Only with the claim's token: a job that another claim took over is
	// not handed back from under it.
	_, err := tx.ExecContext(ctx, `UPDATE jobs SET lease = 0 WHERE delivery = ? AND series = ? AND action = ? AND attempt = ?
		AND lease = ?`, job.DeliveryID, job.Series, job.Action, job.Attempt, job.Lease)
	return err
}

// deferSQL makes the unclaimed jobs of one action due no sooner than ?;
// undeferSQL makes those due later due now.
const (
	deferSQL   = `UPDATE jobs SET due = ? WHERE hook = ? AND action = ? AND due < ? AND lease <= ?`
	undeferSQL = `UPDATE jobs SET due = ? WHERE hook = ? AND action = ? AND due > ? AND lease <= ?`
)

func deferJobs(ctx context.Context, tx *wtx, now time.Time, d postbox.Deferral) error {
	n := now.UnixNano()
	var err error
	if d.Until.IsZero() {
		_, err = tx.ExecContext(ctx, undeferSQL, n, d.Action.Hook, d.Action.Action, n, n)
	} else {
		u := d.Until.UnixNano()
		_, err = tx.ExecContext(ctx, deferSQL, u, d.Action.Hook, d.Action.Action, u, n)
	}
	return err
}

// ReleaseAll hands back every leased job, each with an interrupted attempt
// as a claim taking it over records. Call it only when no other process
// uses the file (serve holds a lock on the data directory), after a crash
// left leases behind.
func (db *DB) ReleaseAll(ctx context.Context) error {
	return db.write(ctx, func(ctx context.Context, tx *wtx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE jobs SET lease = 0, attempt = attempt + 1 WHERE lease != 0
			RETURNING delivery, series, action, attempt`)
		if err != nil {
			return err
		}
		defer rows.Close()
		var taken []*postbox.Job
		for rows.Next() {
			j := &postbox.Job{}
			if err := rows.Scan(&j.DeliveryID, &j.Series, &j.Action, &j.Attempt); err != nil {
				return err
			}
			taken = append(taken, j)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		rows.Close()
		now := db.Now()
		for _, j := range taken {
			if err := interrupted(ctx, tx, now, j); err != nil {
				return err
			}
		}
		return nil
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
