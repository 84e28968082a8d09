package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/storerow"
)

// Append stores d durably, with a job for its first action.
func (db *DB) Append(ctx context.Context, d *postbox.Delivery) error {
	row, err := storerow.Of(d)
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	r := &appendRow{d: d, row: row, state: postbox.StatePending}
	if d.Actions == 0 {
		r.state = postbox.StateDone
	}
	if d.Hold > 0 {
		r.lease = db.Now().Add(d.Hold).UnixNano()
	}
	err = db.writeOp(ctx, &op{ctx: ctx, fn: r.one, app: r})
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE constraint failed") {
			return postbox.Errorf(postbox.ECONFLICT, "delivery %s already exists", d.ID)
		}
		return &postbox.Error{Code: postbox.EUNAVAILABLE, Message: "store unavailable", Detail: err.Error()}
	}
	d.DuplicateOf = r.duplicateOf
	d.State = r.stored
	if r.stored == postbox.StatePending {
		d.Lease = r.lease // the held job's token (0 when not held)
	}
	return nil
}

const deliveryColumns = `id, hook, method, path, query, header, remote, received, path_values, actions, key, state,
	dedup_key, duplicate_of, series`

// Delivery returns one delivery with its body and attempts.
func (db *DB) Delivery(ctx context.Context, id string) (*postbox.Delivery, error) {
	row := db.queryRow(ctx, `SELECT `+deliveryColumns+`, body FROM deliveries WHERE id = ?`, id)
	d, err := scanDelivery(row, true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, postbox.Errorf(postbox.ENOTFOUND, "no delivery %s", id)
	}
	if err != nil {
		return nil, fmt.Errorf("delivery %s: %w", id, err)
	}
	rows, err := db.query(ctx, `SELECT series, action, n, kind, started, duration, outcome, exit_code, status, output, truncated, error
		FROM attempts WHERE delivery = ? ORDER BY series, action, n`, id)
	if err != nil {
		return nil, fmt.Errorf("delivery %s: attempts: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		a := &postbox.Attempt{DeliveryID: id}
		var started, duration int64
		var outcome string
		if err := rows.Scan(&a.Series, &a.Action, &a.N, &a.Kind, &started, &duration, &outcome, &a.ExitCode,
			&a.Status, &a.Output, &a.Truncated, &a.Error); err != nil {
			return nil, fmt.Errorf("delivery %s: attempts: %w", id, err)
		}
		a.Started = time.Unix(0, started).UTC()
		a.Duration = time.Duration(duration)
		a.Outcome = postbox.Outcome(outcome)
		d.Attempts = append(d.Attempts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("delivery %s: attempts: %w", id, err)
	}
	if d.Relays, err = db.relays(ctx, id); err != nil {
		return nil, fmt.Errorf("delivery %s: relays: %w", id, err)
	}
	return d, nil
}

// Deliveries lists deliveries newest first, without bodies and attempts.
func (db *DB) Deliveries(ctx context.Context, f postbox.DeliveryFilter) ([]*postbox.Delivery, error) {
	var where []string
	var args []any
	if f.Hook != "" {
		where, args = append(where, "hook = ?"), append(args, f.Hook)
	}
	if f.State != "" {
		where, args = append(where, "state = ?"), append(args, string(f.State))
	}
	if f.Before != "" {
		where, args = append(where, "id < ?"), append(args, f.Before)
	}
	if !f.Since.IsZero() {
		where, args = append(where, "received >= ?"), append(args, f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		where, args = append(where, "received < ?"), append(args, f.Until.UnixNano())
	}
	if f.Search != "" {
		where, args = append(where, "instr(body, ?) > 0"), append(args, []byte(f.Search))
	}
	q := `SELECT ` + deliveryColumns + ` FROM deliveries`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, q, args...)
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
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanDelivery(s scanner, withBody bool) (*postbox.Delivery, error) {
	d := &postbox.Delivery{}
	var row storerow.Row
	var state string
	dest := []any{&d.ID, &d.HookID, &d.Method, &d.Path, &row.Query, &row.Header, &d.RemoteAddr,
		&row.Received, &row.PathValues, &d.Actions, &d.Key, &state, &d.DedupKey, &d.DuplicateOf, &d.Series}
	if withBody {
		dest = append(dest, &d.Body)
	}
	if err := s.Scan(dest...); err != nil {
		return nil, err
	}
	if err := row.Fill(d); err != nil {
		return nil, err
	}
	d.State = postbox.State(state)
	return d, nil
}

// HookStats counts deliveries per hook and state.
func (db *DB) HookStats(ctx context.Context) ([]postbox.HookStats, error) {
	rows, err := db.query(ctx, `SELECT hook, state, count(*), max(received) FROM deliveries GROUP BY hook, state ORDER BY hook`)
	if err != nil {
		return nil, fmt.Errorf("hook stats: %w", err)
	}
	defer rows.Close()
	var out []postbox.HookStats
	for rows.Next() {
		var hook, state string
		var n int
		var last int64
		if err := rows.Scan(&hook, &state, &n, &last); err != nil {
			return nil, fmt.Errorf("hook stats: %w", err)
		}
		if len(out) == 0 || out[len(out)-1].Hook != hook {
			out = append(out, postbox.HookStats{Hook: hook, States: map[postbox.State]int{}})
		}
		hs := &out[len(out)-1]
		hs.States[postbox.State(state)] = n
		hs.Total += n
		if t := time.Unix(0, last).UTC(); t.After(hs.Last) {
			hs.Last = t
		}
	}
	return out, rows.Err()
}
