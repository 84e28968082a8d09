package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/postbox/postbox"
)

// claimSQL leases up to $1 due, unleased jobs for $2 ns. SKIP LOCKED lets
// instances claim at once without waiting for each other; a row that
// another claimer leased meanwhile fails the lease test on recheck, so no
// job is handed out twice.
//
// A job of a hook in $3 (at its concurrency limit) is left alone, and so is
// one of an action in the pairs ($4[i], $5[i]) (its destination paused), and
// a job whose ordering key an earlier unfinished delivery of its hook has.
//
// A job whose lease ran out while held (lease not 0) is taken over: its
// attempt counter moves on and an interrupted attempt is recorded for it,
// in the same statement.
const claimSQL = `WITH c AS (
	SELECT j.delivery, j.lease AS old FROM jobs j
	WHERE j.due <= ` + nowNS + ` AND j.lease <= ` + nowNS + `
		AND NOT (j.hook = ANY($3::text[]))
		AND NOT EXISTS (SELECT 1 FROM unnest($4::text[], $5::int4[]) s(hook, action)
			WHERE s.hook = j.hook AND s.action = j.action)
		AND (j.key = '' OR NOT EXISTS (
			SELECT 1 FROM jobs e WHERE e.hook = j.hook AND e.key = j.key AND e.key <> '' AND e.delivery < j.delivery))
	ORDER BY j.due, j.delivery
	LIMIT $1
	FOR UPDATE OF j SKIP LOCKED
), u AS (
	UPDATE jobs j SET lease = ` + nowNS + ` + $2, attempt = j.attempt + (c.old <> 0)::int4, holder = $6
	FROM c WHERE j.delivery = c.delivery
	RETURNING j.delivery, j.hook, j.series, j.action, j.attempt, j.lease, c.old <> 0 AS taken
), i AS (
	INSERT INTO attempts (delivery, series, action, n, kind, started, duration, outcome, exit_code, status, output, truncated, error)
	SELECT delivery, series, action, attempt, '', ` + nowNS + `, 0, '` + string(postbox.OutcomeInterrupted) + `', 0, 0, '', false,
		convert_to('` + interruptedError + `', 'UTF8')
	FROM u WHERE taken
	ON CONFLICT DO NOTHING
)
SELECT delivery, hook, series, action, attempt, lease FROM u`

// interruptedError is the error of an interrupted attempt, as both stores
// write it.
const interruptedError = "lease expired while held: the instance that held the job stopped renewing it (it died, stalled or lost the database); taken over"

// claim leases up to s.Claim due jobs, skipping s.Skip and s.SkipActions.
func (db *DB) claim(ctx context.Context, s postbox.Step) ([]*postbox.Job, error) {
	if s.Claim <= 0 {
		return nil, nil
	}
	sh, sa := skipActions(s.SkipActions)
	rows, err := db.pool.Query(ctx, claimSQL, s.Claim, int64(s.Lease), skipList(s.Skip), sh, sa, db.holderID())
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, scanJob)
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	return jobs, nil
}

func scanJob(r pgx.CollectableRow) (*postbox.Job, error) {
	j := &postbox.Job{}
	return j, r.Scan(&j.DeliveryID, &j.HookID, &j.Series, &j.Action, &j.Attempt, &j.Lease)
}

// skipList is hooks as claimSQL's $3 (an array, never NULL).
func skipList(hooks []string) []string {
	if hooks == nil {
		return []string{}
	}
	return hooks
}

// skipActions is actions as claimSQL's $4 and $5: hooks and action
// indexes, pair by pair.
func skipActions(actions []postbox.ActionRef) ([]string, []int32) {
	hooks, idx := make([]string, len(actions)), make([]int32, len(actions))
	for i, a := range actions {
		hooks[i], idx[i] = a.Hook, int32(a.Action)
	}
	return hooks, idx
}

var _ postbox.Renewer = (*DB)(nil)

// renewSQL extends a job's lease, on the database's clock, if it still
// holds the claim's token.
const renewSQL = `UPDATE jobs SET lease = ` + nowNS + ` + $6
	WHERE delivery = $1 AND series = $2 AND action = $3 AND attempt = $4 AND lease = $5
	RETURNING lease`

// Renew extends the leases of jobs still held with their tokens, in one
// transaction.
func (db *DB) Renew(ctx context.Context, jobs []*postbox.Job, lease time.Duration) ([]int64, error) {
	leases := make([]int64, len(jobs))
	if len(jobs) == 0 {
		return leases, nil
	}
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		clear(leases)
		b := &pgx.Batch{}
		for i, j := range jobs {
			b.Queue(renewSQL, j.DeliveryID, j.Series, j.Action, j.Attempt, j.Lease, int64(lease)).QueryRow(func(row pgx.Row) error {
				err := row.Scan(&leases[i])
				if errors.Is(err, pgx.ErrNoRows) {
					return nil
				}
				return err
			})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("renew: %w", err)
	}
	return leases, nil
}

// Advance finishes s.Done, releases s.Release and claims up to s.Claim jobs
// in one transaction of three round trips (begin, lock the finished jobs,
// one batch of writes with the claim), committed once.
func (db *DB) Advance(ctx context.Context, s postbox.Step) ([]*postbox.Job, []error, error) {
	if len(s.Done) == 0 && len(s.Release) == 0 && len(s.Defer) == 0 {
		jobs, err := db.claim(ctx, s)
		return jobs, nil, err
	}
	jobs, failed, err := db.advance(ctx, s)
	if err != nil {
		return nil, nil, fmt.Errorf("advance: %w", err)
	}
	for i, err := range failed {
		if err != nil {
			d := s.Done[i]
			failed[i] = fmt.Errorf("finish %s action %d: %w", d.Job.DeliveryID, d.Job.Action, err)
		}
	}
	return jobs, failed, nil
}

// heldJob is a finished job's row, locked.
type heldJob struct {
	series, action, attempt, actions int32
	lease                            int64
	failed                           bool
}

func (db *DB) advance(ctx context.Context, s postbox.Step) ([]*postbox.Job, []error, error) {
	failed := make([]error, len(s.Done))
	leases := make([]int64, len(s.Done)) // the next jobs' tokens, with a Hold
	var jobs []*postbox.Job
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		// FOR UPDATE: two workers finishing the same job (one whose lease
		// ran out) take turns; the second finds it moved on. Rows are
		// locked in one order, so that two calls never wait on each other
		// in a cycle.
		held := map[string]heldJob{}
		if len(s.Done) > 0 {
			ids := make([]string, len(s.Done))
			for i, d := range s.Done {
				ids[i] = d.Job.DeliveryID
			}
			rows, err := tx.Query(ctx, `SELECT j.delivery, j.series, j.action, j.attempt, j.lease, d.actions, j.failed
				FROM jobs j JOIN deliveries d ON d.id = j.delivery
				WHERE j.delivery = ANY($1) ORDER BY j.delivery FOR UPDATE OF j`, ids)
			if err != nil {
				return err
			}
			var id string
			var h heldJob
			_, err = pgx.ForEachRow(rows, []any{&id, &h.series, &h.action, &h.attempt, &h.lease, &h.actions, &h.failed}, func() error {
				held[id] = h
				return nil
			})
			if err != nil {
				return err
			}
		}
		b := &pgx.Batch{}
		for i, d := range s.Done {
			j := d.Job
			h, ok := held[j.DeliveryID]
			if !ok || int(h.series) != j.Series || int(h.action) != j.Action || int(h.attempt) != j.Attempt || h.lease != j.Lease {
				failed[i] = fmt.Errorf("job %s/%d/%d with lease %d: %w", j.DeliveryID, j.Action, j.Attempt, j.Lease, postbox.ErrFenced)
				continue
			}
			if err := queueFinish(b, d, int(h.actions), h.failed, &leases[i]); err != nil {
				return err
			}
		}
		for _, j := range s.Release {
			b.Queue(releaseSQL, j.DeliveryID, j.Series, j.Action, j.Attempt, j.Lease)
		}
		for _, d := range s.Defer {
			if d.Until.IsZero() {
				b.Queue(undeferSQL, d.Action.Hook, d.Action.Action)
			} else {
				b.Queue(deferSQL, d.Action.Hook, d.Action.Action, d.Until.UnixNano())
			}
		}
		if s.Claim > 0 {
			sh, sa := skipActions(s.SkipActions)
			b.Queue(claimSQL, s.Claim, int64(s.Lease), skipList(s.Skip), sh, sa, db.holderID()).Query(func(rows pgx.Rows) error {
				var err error
				jobs, err = pgx.CollectRows(rows, scanJob)
				return err
			})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, nil, err
	}
	for i, d := range s.Done {
		if leases[i] != 0 {
			d.Job.Lease = leases[i]
		}
	}
	if len(s.Release) > 0 || slices.ContainsFunc(s.Defer, func(d postbox.Deferral) bool { return d.Until.IsZero() }) {
		db.notifySoon() // work others may take now (not for jobs deferred to later)
	}
	return jobs, failed, nil
}

// queueFinish adds to b the writes that record d and move its job on; the
// job's delivery has actions actions, and failed says whether an earlier
// one failed (continue_on_error). With a Hold, lease receives the next
// action's token.
func queueFinish(b *pgx.Batch, d postbox.Done, actions int, failed bool, lease *int64) error {
	job, a, next := d.Job, d.Attempt, d.Next
	if a != nil {
		b.Queue(`INSERT INTO attempts
			(delivery, series, action, n, kind, started, duration, outcome, exit_code, status, output, truncated, error)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			job.DeliveryID, job.Series, job.Action, job.Attempt+1, a.Kind, a.Started.UnixNano(), int64(a.Duration),
			string(a.Outcome), a.ExitCode, a.Status, []byte(a.Output), a.Truncated, []byte(a.Error))
	}
	// The next action is due now; with a Hold it stays leased to the
	// caller (a sync hook running its actions inline) until now+Hold.
	advance := func(failed bool) {
		b.Queue(`UPDATE jobs SET action = action + 1, attempt = 0, due = `+nowNS+`,
			lease = CASE WHEN $3::int8 > 0 THEN `+nowNS+` + $3::int8 ELSE 0 END, failed = $2
			WHERE delivery = $1 RETURNING lease`, job.DeliveryID, failed, int64(max(next.Hold, 0))).
			QueryRow(func(r pgx.Row) error { return r.Scan(lease) })
	}
	end := func(state postbox.State) {
		b.Queue(`DELETE FROM jobs WHERE delivery = $1`, job.DeliveryID)
		b.Queue(`UPDATE deliveries SET state = $2 WHERE id = $1`, job.DeliveryID, string(state))
	}
	last := job.Action+1 >= actions
	switch next.Next {
	case postbox.StateDone:
		switch {
		case !last:
			advance(failed)
		case failed:
			end(postbox.StateFailed)
		default:
			end(postbox.StateDone)
		}
	case postbox.StatePending:
		b.Queue(`UPDATE jobs SET attempt = attempt + 1, due = $2, lease = 0 WHERE delivery = $1`,
			job.DeliveryID, next.RetryAt.UnixNano())
	case postbox.StateFailed, postbox.StateDead:
		if next.Continue && !last {
			advance(true)
		} else {
			end(next.Next)
		}
	default:
		return fmt.Errorf("unknown next state %q", next.Next)
	}
	return nil
}

// deferSQL makes the unclaimed jobs of one action due no sooner than $3;
// undeferSQL makes those due later due now.
const (
	deferSQL   = `UPDATE jobs SET due = $3 WHERE hook = $1 AND action = $2 AND due < $3 AND lease <= ` + nowNS
	undeferSQL = `UPDATE jobs SET due = ` + nowNS + ` WHERE hook = $1 AND action = $2 AND due > ` + nowNS + ` AND lease <= ` + nowNS
)

// releaseSQL hands a job back if it is still the one claimed, with the
// claim's token ($5): a job that another claim took over is not handed
// back from under it.
const releaseSQL = `UPDATE jobs SET lease = 0 WHERE delivery = $1 AND series = $2 AND action = $3 AND attempt = $4
	AND lease = $5`

// Replay starts a new series of attempts for delivery id: the delivery is
// pending again with a job for its first action, due now.
func (db *DB) Replay(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		var actions, series int
		// FOR UPDATE: of two replays at once (two consoles, two
		// instances), the second sees the first's job and is refused.
		err := tx.QueryRow(ctx, `SELECT actions, series FROM deliveries WHERE id = $1 FOR UPDATE`, id).Scan(&actions, &series)
		if errors.Is(err, pgx.ErrNoRows) {
			return postbox.Errorf(postbox.ENOTFOUND, "no delivery %s", id)
		}
		if err != nil {
			return err
		}
		var busy bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM jobs WHERE delivery = $1)`, id).Scan(&busy); err != nil {
			return err
		}
		if busy {
			return postbox.Errorf(postbox.ECONFLICT, "delivery %s still has actions to run; replay it once it is done, failed or dead", id)
		}
		if actions == 0 {
			return postbox.Errorf(postbox.EINVALID, "delivery %s has no actions to replay", id)
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE deliveries SET series = $2, state = $3 WHERE id = $1`, id, series+1, string(postbox.StatePending))
		b.Queue(`INSERT INTO jobs (delivery, hook, series, action, attempt, due, lease, failed, key)
			SELECT id, hook, series, 0, 0, `+nowNS+`, 0, false, key FROM deliveries WHERE id = $1`, id)
		b.Queue(notifySQL)
		return tx.SendBatch(ctx, b).Close()
	})
	var e *postbox.Error
	if err != nil && !errors.As(err, &e) {
		return fmt.Errorf("replay %s: %w", id, err)
	}
	return err
}
