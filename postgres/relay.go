package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/postbox/postbox"
)

var _ postbox.Relayer = (*DB)(nil)

// final limits a query to deliveries whose place in the relay order is
// settled: their transaction is older than every one still running, so no
// row that commits later can sort before them (see
// migrations/0006_relay.sql). Rows from before that step have no xid.
const final = `xid IS NOT NULL AND xid < pg_snapshot_xmin(pg_current_snapshot())`

// A cursor is "xid-seq": the stored delivery's transaction id and number.

func formatCursor(xid string, seq int64) string { return xid + "-" + strconv.FormatInt(seq, 10) }

// parseCursor reads a cursor made by RelayHead or RelayAfter.
func parseCursor(cursor string) (xid string, seq int64, err error) {
	if cursor == "" {
		return "0", 0, nil
	}
	x, s, ok := strings.Cut(cursor, "-")
	xn, err1 := strconv.ParseUint(x, 10, 64)
	sn, err2 := strconv.ParseInt(s, 10, 64)
	if !ok || err1 != nil || err2 != nil || sn < 0 || formatCursor(strconv.FormatUint(xn, 10), sn) != cursor {
		return "", 0, postbox.Errorf(postbox.EINVALID, "relay cursor %.40q is not one this store made", cursor)
	}
	return x, sn, nil
}

// RelayHead returns the cursor of the newest delivery whose order is
// settled, or "0-0" when there is none.
func (db *DB) RelayHead(ctx context.Context) (string, error) {
	var xid string
	var seq int64
	err := db.pool.QueryRow(ctx, `SELECT xid::text, seq FROM deliveries WHERE `+final+
		` ORDER BY xid DESC, seq DESC LIMIT 1`).Scan(&xid, &seq)
	if err == pgx.ErrNoRows {
		return formatCursor("0", 0), nil
	}
	if err != nil {
		return "", fmt.Errorf("relay head: %w", err)
	}
	return formatCursor(xid, seq), nil
}

// RelayAfter lists settled deliveries after f.After by (xid, seq), with
// bodies.
func (db *DB) RelayAfter(ctx context.Context, f postbox.RelayFilter) ([]postbox.Relayed, error) {
	xid, seq, err := parseCursor(f.After)
	if err != nil {
		return nil, err
	}
	args := []any{xid, seq}
	where := []string{final, "(xid, seq) > ($1::text::xid8, $2::int8)"}
	if len(f.Hooks) > 0 {
		args = append(args, f.Hooks)
		where = append(where, "hook = ANY($"+strconv.Itoa(len(args))+"::text[])")
	}
	if !f.Since.IsZero() {
		args = append(args, f.Since.UnixNano())
		where = append(where, "received >= $"+strconv.Itoa(len(args)))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	rows, err := db.pool.Query(ctx, `SELECT xid::text, seq, `+deliveryColumns+`, body FROM deliveries WHERE `+
		strings.Join(where, " AND ")+` ORDER BY xid, seq LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	defer rows.Close()
	var out []postbox.Relayed
	for rows.Next() {
		var x string
		var n int64
		d, err := scanDelivery(prefixed{rows, []any{&x, &n}}, true)
		if err != nil {
			return nil, fmt.Errorf("relay: %w", err)
		}
		out = append(out, postbox.Relayed{Cursor: formatCursor(x, n), Delivery: d})
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("relay: %w", err)
	}
	return out, nil
}

// prefixed scans leading columns into first, then the rest as r would.
type prefixed struct {
	r     pgx.Row
	first []any
}

func (p prefixed) Scan(dest ...any) error { return p.r.Scan(append(p.first, dest...)...) }

// RecordRelay notes that listener was sent delivery id at at.
func (db *DB) RecordRelay(ctx context.Context, id, listener string, at time.Time) error {
	_, err := db.pool.Exec(ctx, `INSERT INTO relays (delivery, listener, at)
		SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = $1)
		ON CONFLICT (delivery, listener) DO UPDATE SET at = excluded.at`, id, listener, at.UnixNano())
	if err != nil && !strings.Contains(err.Error(), "relays_delivery_fkey") { // pruned meanwhile
		return fmt.Errorf("record relay: %w", err)
	}
	return nil
}
