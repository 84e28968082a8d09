package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/postbox/postbox"
)

var _ postbox.Relayer = (*DB)(nil)

// seqFloor is the highest seq ever given: the newest delivery's, or, once
// retention deleted it, what relay_seq kept (keepSeq), so that seq never
// goes back, not even once every delivery is pruned.
const seqFloor = `max(coalesce((SELECT max(seq) FROM deliveries WHERE seq IS NOT NULL), 0), (SELECT n FROM relay_seq))`

// nextSeq numbers a delivery in the relay order, binding its place (1, 2,
// ...) among the rows its transaction inserts: SQLite has one writer at a
// time, so seq grows in the order of the commits (see
// migrations/0004_relay.sql). Rows of one statement may get gaps between
// them; a cursor needs the order, not the count. Reading the floor costs
// the commit no page: the deliveries_seq index is written anyway.
const nextSeq = `(SELECT ` + seqFloor + ` + ?)`

// keepSeq raises relay_seq to the newest seq before retention deletes
// deliveries, which may be the newest ones. It writes only when the
// newest seq moved past it.
const keepSeq = `UPDATE relay_seq SET n = (SELECT max(seq) FROM deliveries WHERE seq IS NOT NULL) WHERE n < (SELECT coalesce(max(seq), 0) FROM deliveries WHERE seq IS NOT NULL)`

// RelayHead returns the seq of the newest delivery, as a cursor.
func (db *DB) RelayHead(ctx context.Context) (string, error) {
	var n int64
	if err := db.queryRow(ctx, `SELECT `+seqFloor).Scan(&n); err != nil {
		return "", fmt.Errorf("relay head: %w", err)
	}
	return strconv.FormatInt(n, 10), nil
}

// parseSeq reads a cursor made by RelayHead or RelayAfter.
func parseSeq(cursor string) (int64, error) {
	if cursor == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(cursor, 10, 64)
	if err != nil || n < 0 || strconv.FormatInt(n, 10) != cursor {
		return 0, postbox.Errorf(postbox.EINVALID, "relay cursor %.40q is not one this store made", cursor)
	}
	return n, nil
}

// RelayAfter lists deliveries after f.After in seq order, with bodies.
func (db *DB) RelayAfter(ctx context.Context, f postbox.RelayFilter) ([]postbox.Relayed, error) {
	after, err := parseSeq(f.After)
	if err != nil {
		return nil, err
	}
	where := []string{"seq > ?"}
	args := []any{after}
	if len(f.Hooks) > 0 {
		where = append(where, "hook IN (?"+strings.Repeat(", ?", len(f.Hooks)-1)+")")
		for _, h := range f.Hooks {
			args = append(args, h)
		}
	}
	if !f.Since.IsZero() {
		where, args = append(where, "received >= ?"), append(args, f.Since.UnixNano())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	rows, err := db.r.QueryContext(ctx, `SELECT seq, `+deliveryColumns+`, body FROM deliveries WHERE `+
		strings.Join(where, " AND ")+` ORDER BY seq LIMIT ?`, args...)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	defer rows.Close()
	var out []postbox.Relayed
	for rows.Next() {
		var seq int64
		d, err := scanDelivery(prefixed{rows, &seq}, true)
		if err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		out = append(out, postbox.Relayed{Cursor: strconv.FormatInt(seq, 10), Delivery: d})
	}
	return out, rows.Err()
}

// prefixed scans one leading column into first, then the rest as s would.
type prefixed struct {
	s     scanner
	first any
}

func (p prefixed) Scan(dest ...any) error { return p.s.Scan(append([]any{p.first}, dest...)...) }

// RecordRelay notes that listener was sent delivery id at at.
func (db *DB) RecordRelay(ctx context.Context, id, listener string, at time.Time) error {
	err := db.write(ctx, func(ctx context.Context, tx *wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO relays (delivery, listener, at)
			SELECT ?, ?, ? WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = ?)
			ON CONFLICT (delivery, listener) DO UPDATE SET at = excluded.at`, id, listener, at.UnixNano(), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("record relay: %w", err)
	}
	return nil
}

// relays lists the listeners delivery id was relayed to.
func (db *DB) relays(ctx context.Context, id string) ([]postbox.Relay, error) {
	rows, err := db.query(ctx, `SELECT listener, at FROM relays WHERE delivery = ? ORDER BY at, listener`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []postbox.Relay
	for rows.Next() {
		var r postbox.Relay
		var at int64
		if err := rows.Scan(&r.Listener, &at); err != nil {
			return nil, err
		}
		r.At = time.Unix(0, at).UTC()
		out = append(out, r)
	}
	return out, rows.Err()
}
