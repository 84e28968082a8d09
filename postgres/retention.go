package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/postbox/postbox/internal/prune"
)

var _ prune.Store = (*DB)(nil)

// storedHooksSQL lists the distinct hooks by skipping through
// deliveries_hook, one index seek per hook.
const storedHooksSQL = `WITH RECURSIVE h(hook) AS (
	SELECT min(hook) FROM deliveries
	UNION ALL
	SELECT (SELECT min(hook) FROM deliveries WHERE hook > h.hook) FROM h WHERE h.hook IS NOT NULL)
SELECT hook FROM h WHERE hook IS NOT NULL`

// StoredHooks lists the hooks that have deliveries.
func (db *DB) StoredHooks(ctx context.Context) ([]string, error) {
	rows, err := db.pool.Query(ctx, storedHooksSQL)
	if err != nil {
		return nil, fmt.Errorf("stored hooks: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("stored hooks: %w", err)
	}
	return out, nil
}

// cutWhere is the condition and arguments (from $1) that select the
// deliveries c names, and their order, oldest first. It says state <>
// 'pending' in so many words, which matches the partial indexes of
// 0004_retention.sql, and that no job refers to the delivery.
func cutWhere(c prune.Cut) (where, order string, args []any) {
	conds := []string{`d.state <> 'pending'`}
	order = "d.received"
	arg := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(args))))
	}
	if c.Hook != "" {
		arg("d.hook = ?", c.Hook)
	}
	if c.State != "" {
		arg("d.state = ?", string(c.State))
	}
	if !c.Received.IsZero() {
		arg("d.received < ?", c.Received.UnixNano())
	}
	if c.Before != "" {
		arg("d.id < ?", c.Before)
		order = "d.id"
	}
	conds = append(conds, "NOT EXISTS (SELECT 1 FROM jobs j WHERE j.delivery = d.id)")
	return strings.Join(conds, " AND "), order, args
}

// DeleteDeliveries deletes up to limit of the settled deliveries c names,
// oldest first, with their attempts (ON DELETE CASCADE), in one
// transaction. Instances pruning at once skip each other's rows; a
// delivery being replayed is locked by the replay and skipped too.
func (db *DB) DeleteDeliveries(ctx context.Context, c prune.Cut, limit int) (int64, error) {
	where, order, args := cutWhere(c)
	args = append(args, limit)
	q := `DELETE FROM deliveries WHERE id IN (SELECT d.id FROM deliveries d WHERE ` + where +
		` ORDER BY ` + order + ` LIMIT $` + strconv.Itoa(len(args)) + ` FOR UPDATE SKIP LOCKED)`
	tag, err := db.pool.Exec(ctx, q, args...)
	if err != nil {
		return 0, fmt.Errorf("delete deliveries: %w", err)
	}
	return tag.RowsAffected(), nil
}

// CountDeliveries counts the settled deliveries c names.
func (db *DB) CountDeliveries(ctx context.Context, c prune.Cut) (int64, error) {
	where, _, args := cutWhere(c)
	var n int64
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries d WHERE `+where, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count deliveries: %w", err)
	}
	return n, nil
}

// NthNewest returns the id of hook's nth newest delivery, or "".
func (db *DB) NthNewest(ctx context.Context, hook string, n int) (string, error) {
	if n <= 0 {
		return "", nil
	}
	var id string
	err := db.pool.QueryRow(ctx, `SELECT id FROM deliveries WHERE hook = $1 ORDER BY id DESC LIMIT 1 OFFSET $2`, hook, n-1).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("nth newest: %w", err)
	}
	return id, nil
}

var _ prune.Statser = (*DB)(nil)

// StoreStats describes the store: the bytes of its tables and indexes
// (as Used), its deliveries, the oldest and newest, those of the last 24
// hours, and each hook's share (which reads every delivery's lengths).
func (db *DB) StoreStats(ctx context.Context, now time.Time) (prune.Stats, error) {
	var st prune.Stats
	var oldest, newest *int64
	err := db.pool.QueryRow(ctx, `SELECT
		(SELECT sum(pg_total_relation_size(c)) FROM unnest(array['deliveries', 'jobs', 'attempts', 'dedup']::regclass[]) c)::int8,
		count(*), min(received), max(received),
		(SELECT count(*) FROM deliveries WHERE received >= $1)
		FROM deliveries`, now.Add(-24*time.Hour).UnixNano()).Scan(&st.Used, &st.Rows, &oldest, &newest, &st.Last24h)
	if err != nil {
		return st, fmt.Errorf("store stats: %w", err)
	}
	if oldest != nil {
		st.Oldest, st.Newest = time.Unix(0, *oldest).UTC(), time.Unix(0, *newest).UTC()
	}
	rows, err := db.pool.Query(ctx, `SELECT hook, count(*),
		coalesce(sum(octet_length(body) + octet_length(header) + octet_length(query) + octet_length(path)), 0)::int8
		FROM deliveries GROUP BY hook ORDER BY hook`)
	if err != nil {
		return st, fmt.Errorf("store stats: %w", err)
	}
	st.Hooks, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (prune.HookBytes, error) {
		var h prune.HookBytes
		return h, r.Scan(&h.Hook, &h.Rows, &h.Bytes)
	})
	if err != nil {
		return st, fmt.Errorf("store stats: %w", err)
	}
	return st, nil
}
