package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/storerow"
)

// dedupSQL claims a dedup key for a delivery: it inserts (hook, key) or
// takes over an entry whose window ended, and otherwise leaves the entry
// (and its row lock, until commit) to the delivery that has it. The
// primary key decides between instances appending the same key at once.
const dedupSQL = `INSERT INTO dedup (hook, key, delivery, expires) VALUES ($1, $2, $3, $4)
ON CONFLICT (hook, key) DO UPDATE SET delivery = excluded.delivery, expires = excluded.expires
WHERE dedup.expires <= $5`

// appendSQL stores a delivery and, when it is pending, the job for its
// first action (held until now+$15 when $15 > 0), in one statement. It runs
// after dedupSQL, in the same transaction but with a snapshot of its own, so
// it sees the entry that won the key; a delivery whose key another one holds
// is a duplicate and gets no job. A duplicate id inserts nothing: the
// result counts 0.
const appendSQL = `WITH dup AS (
	SELECT delivery FROM dedup WHERE $14::bytea <> '' AND hook = $2 AND key = $14 AND delivery <> $1
), d AS (
	INSERT INTO deliveries (id, hook, method, path, query, header, body, remote, received, path_values, actions, key,
		state, dedup_key, duplicate_of, series)
	SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
		CASE WHEN dup.delivery IS NULL THEN $13 ELSE '` + string(postbox.StateDuplicate) + `' END,
		$14, coalesce(dup.delivery, ''), 0
	FROM (SELECT) one LEFT JOIN dup ON true
	ON CONFLICT (id) DO NOTHING
	RETURNING id, hook, state, duplicate_of, key
), j AS (
	INSERT INTO jobs (delivery, hook, series, action, attempt, due, lease, failed, key)
	SELECT id, hook, 0, 0, 0, ` + nowNS + `, CASE WHEN $15::int8 > 0 THEN ` + nowNS + ` + $15::int8 ELSE 0 END, false, key
	FROM d WHERE state = '` + string(postbox.StatePending) + `'
	RETURNING lease
)
SELECT count(*), coalesce(max(state), ''), coalesce(max(duplicate_of), ''), (SELECT coalesce(max(lease), 0) FROM j) FROM d`

// Append stores d durably, with a job for its first action unless d is a
// duplicate. It returns once the transaction is committed; Channel is
// notified just after (see notifySoon).
func (db *DB) Append(ctx context.Context, d *postbox.Delivery) error {
	row, err := storerow.Of(d)
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	state := postbox.StatePending
	if d.Actions == 0 {
		state = postbox.StateDone
	}
	received := row.Received
	b := &pgx.Batch{}
	if d.DedupKey != "" {
		b.Queue(dedupSQL, d.HookID, []byte(d.DedupKey), d.ID, received+int64(d.DedupWindow), received)
	}
	var n, lease int64
	var stored, duplicateOf string
	b.Queue(appendSQL, d.ID, d.HookID, d.Method, []byte(d.Path), row.Query, row.Header, row.Body,
		d.RemoteAddr, received, row.PathValues, d.Actions, []byte(d.Key), string(state),
		[]byte(d.DedupKey), int64(max(d.Hold, 0))).
		QueryRow(func(r pgx.Row) error { return r.Scan(&n, &stored, &duplicateOf, &lease) })
	if err := db.send(ctx, b); err != nil {
		return unavailable(err)
	}
	if n == 0 {
		return postbox.Errorf(postbox.ECONFLICT, "delivery %s already exists", d.ID)
	}
	d.State, d.DuplicateOf, d.Lease = postbox.State(stored), duplicateOf, lease
	if d.State == postbox.StatePending && d.Hold <= 0 {
		db.notifySoon()
	}
	return nil
}

// send runs the statements of b as one transaction: a batch is sent with
// one Sync, so the server runs it as a single implicit transaction that
// commits when the last statement succeeds, and b's result callbacks have
// all run when send returns nil. Once the batch is on its way, send waits
// for the outcome even if ctx ends, so that a caller is never told that a
// committed write failed.
func (db *DB) send(ctx context.Context, b *pgx.Batch) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	start := time.Now()
	if err := conn.SendBatch(context.WithoutCancel(ctx), b).Close(); err != nil {
		return err
	}
	if fn := db.onCommit.Load(); fn != nil {
		(*fn)(time.Since(start), 1)
	}
	return nil
}

const deliveryColumns = `id, hook, method, path, query, header, remote, received, path_values, actions, key, state,
	dedup_key, duplicate_of, series`

// Delivery returns one delivery with its body and attempts, read in one
// round trip.
func (db *DB) Delivery(ctx context.Context, id string) (*postbox.Delivery, error) {
	var d *postbox.Delivery
	b := &pgx.Batch{}
	b.Queue(`SELECT `+deliveryColumns+`, body FROM deliveries WHERE id = $1`, id).QueryRow(func(r pgx.Row) error {
		var err error
		d, err = scanDelivery(r, true)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		return err
	})
	b.Queue(`SELECT series, action, n, kind, started, duration, outcome, exit_code, status, output, truncated, error
		FROM attempts WHERE delivery = $1 ORDER BY series, action, n`, id).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			a := &postbox.Attempt{DeliveryID: id}
			var series, action, n, exitCode, status int32
			var started, duration int64
			var outcome string
			var output, errText []byte
			if err := rows.Scan(&series, &action, &n, &a.Kind, &started, &duration, &outcome, &exitCode,
				&status, &output, &a.Truncated, &errText); err != nil {
				return err
			}
			a.Series, a.Action, a.N, a.ExitCode, a.Status = int(series), int(action), int(n), int(exitCode), int(status)
			a.Started = time.Unix(0, started).UTC()
			a.Duration = time.Duration(duration)
			a.Outcome = postbox.Outcome(outcome)
			a.Output, a.Error = string(output), string(errText)
			if d != nil {
				d.Attempts = append(d.Attempts, a)
			}
		}
		return rows.Err()
	})
	var relays []postbox.Relay
	b.Queue(`SELECT listener, at FROM relays WHERE delivery = $1 ORDER BY at, listener`, id).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var r postbox.Relay
			var at int64
			if err := rows.Scan(&r.Listener, &at); err != nil {
				return err
			}
			r.At = time.Unix(0, at).UTC()
			relays = append(relays, r)
		}
		return rows.Err()
	})
	if err := db.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, fmt.Errorf("delivery %s: %w", id, err)
	}
	if d != nil {
		d.Relays = relays
	}
	if d == nil {
		return nil, postbox.Errorf(postbox.ENOTFOUND, "no delivery %s", id)
	}
	return d, nil
}

// Deliveries lists deliveries newest first, without bodies and attempts.
func (db *DB) Deliveries(ctx context.Context, f postbox.DeliveryFilter) ([]*postbox.Delivery, error) {
	var where []string
	var args []any
	arg := func(cond string, v any) {
		args = append(args, v)
		where = append(where, cond+" $"+strconv.Itoa(len(args)))
	}
	if f.Hook != "" {
		arg("hook =", f.Hook)
	}
	if f.State != "" {
		arg("state =", string(f.State))
	}
	if f.Before != "" {
		arg("id <", f.Before)
	}
	if !f.Since.IsZero() {
		arg("received >=", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		arg("received <", f.Until.UnixNano())
	}
	if f.Search != "" {
		args = append(args, []byte(f.Search))
		where = append(where, "position($"+strconv.Itoa(len(args))+"::bytea IN body) > 0")
	}
	q := `SELECT ` + deliveryColumns + ` FROM deliveries`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	q += ` ORDER BY id DESC LIMIT $` + strconv.Itoa(len(args))
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	defer rows.Close()
	var out []*postbox.Delivery
	for rows.Next() {
		d, err := scanDelivery(rows, false)
		if err != nil {
			return nil, fmt.Errorf("deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	return out, nil
}

func scanDelivery(r pgx.Row, withBody bool) (*postbox.Delivery, error) {
	d := &postbox.Delivery{}
	var path, key, dedupKey []byte
	var row storerow.Row
	var state string
	var actions, series int32
	dest := []any{&d.ID, &d.HookID, &d.Method, &path, &row.Query, &row.Header, &d.RemoteAddr,
		&row.Received, &row.PathValues, &actions, &key, &state, &dedupKey, &d.DuplicateOf, &series}
	if withBody {
		dest = append(dest, &d.Body)
	}
	if err := r.Scan(dest...); err != nil {
		return nil, err
	}
	if err := row.Fill(d); err != nil {
		return nil, err
	}
	d.Path, d.Key, d.DedupKey = string(path), string(key), string(dedupKey)
	d.Actions, d.Series = int(actions), int(series)
	d.State = postbox.State(state)
	return d, nil
}

// HookStats counts deliveries per hook and state.
func (db *DB) HookStats(ctx context.Context) ([]postbox.HookStats, error) {
	rows, err := db.pool.Query(ctx, `SELECT hook, state, count(*), max(received) FROM deliveries GROUP BY hook, state ORDER BY hook COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("hook stats: %w", err)
	}
	defer rows.Close()
	var out []postbox.HookStats
	for rows.Next() {
		var hook, state string
		var n, last int64
		if err := rows.Scan(&hook, &state, &n, &last); err != nil {
			return nil, fmt.Errorf("hook stats: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Hook != hook {
			out = append(out, postbox.HookStats{Hook: hook, States: map[postbox.State]int{}})
		}
		hs := &out[len(out)-1]
		hs.States[postbox.State(state)] = int(n)
		hs.Total += int(n)
		if t := time.Unix(0, last).UTC(); t.After(hs.Last) {
			hs.Last = t
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("hook stats: %w", err)
	}
	return out, nil
}
