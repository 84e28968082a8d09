package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/storerow"
)

// maxVariables is the most parameters one statement may bind: SQLite's
// SQLITE_MAX_VARIABLE_NUMBER, 32766 in the builds of both drivers (and in
// every SQLite since 3.32). A multi-row INSERT is cut into statements that
// stay below it.
const maxVariables = 32766

// appendRow is one Append, as the writer sees it: the row to insert and,
// once its transaction ran, the state it was stored in.
type appendRow struct {
	d     *postbox.Delivery
	row   storerow.Row
	state postbox.State // before the write: pending, or done with no action
	lease int64         // the first job's lease (a hold), or 0
	// seq is the row's place after relay_seq's count in its statement
	// (1 for the first row of a transaction): see relay.go.
	seq int64

	// Set by the write; read by Append after it returned nil.
	stored      postbox.State
	duplicateOf string
}

// dedupLookup is the live dedup entry for a delivery's hook and key.
const dedupLookup = `SELECT delivery FROM dedup WHERE hook = ? AND key = ? AND expires > ?`

// dedup decides whether r is a duplicate, by the dedup table as it is
// within the transaction. It returns true when r's key is new, and r must
// then write the dedup entry.
func (r *appendRow) dedup(ctx context.Context, tx *wtx) (bool, error) {
	r.stored, r.duplicateOf = r.state, ""
	if r.d.DedupKey == "" {
		return false, nil
	}
	var first string
	err := tx.QueryRowContext(ctx, dedupLookup, r.d.HookID, r.d.DedupKey, r.row.Received).Scan(&first)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return true, nil
	case err != nil:
		return false, err
	}
	r.stored, r.duplicateOf = postbox.StateDuplicate, first
	return false, nil
}

// expires is when r's dedup entry ends.
func (r *appendRow) expires() int64 { return r.row.Received + int64(r.d.DedupWindow) }

// The columns of the three tables an Append writes, and the values of one
// row of each, in the same order.
var (
	dedupInsert    = &multiInsert{head: `INSERT OR REPLACE INTO dedup (hook, key, delivery, expires) VALUES `, row: `(?, ?, ?, ?)`, vars: 4}
	deliveryInsert = &multiInsert{head: `INSERT INTO deliveries
			(id, hook, method, path, query, header, body, remote, received, path_values, actions, key, state, dedup_key, duplicate_of, series, seq)
			VALUES `, row: `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ` + nextSeq + `)`, vars: 16}
	jobInsert = &multiInsert{head: `INSERT INTO jobs (delivery, hook, series, action, attempt, due, lease, failed, key) VALUES `,
		row: `(?, ?, 0, 0, 0, ?, ?, 0, ?)`, vars: 5}
)

func (r *appendRow) dedupArgs(args []any) []any {
	return append(args, r.d.HookID, r.d.DedupKey, r.d.ID, r.expires())
}

func (r *appendRow) deliveryArgs(args []any) []any {
	d := r.d
	return append(args, d.ID, d.HookID, d.Method, d.Path, r.row.Query, r.row.Header, r.row.Body,
		d.RemoteAddr, r.row.Received, r.row.PathValues, d.Actions, d.Key, string(r.stored), d.DedupKey, r.duplicateOf, r.seq)
}

func (r *appendRow) jobArgs(args []any) []any {
	return append(args, r.d.ID, r.d.HookID, r.row.Received, r.lease, r.d.Key)
}

// one writes r alone: the writer's way when r is the only write of its
// transaction, or when a batch is run again op by op because one failed.
func (r *appendRow) one(ctx context.Context, tx *wtx) error {
	fresh, err := r.dedup(ctx, tx)
	if err != nil {
		return err
	}
	if fresh {
		if _, err := tx.ExecContext(ctx, tx.db.insertText(dedupInsert, 1), r.dedupArgs(nil)...); err != nil {
			return err
		}
	}
	r.seq = 1
	if _, err := tx.ExecContext(ctx, tx.db.insertText(deliveryInsert, 1), r.deliveryArgs(nil)...); err != nil {
		return err
	}
	if r.stored != postbox.StatePending {
		return nil
	}
	_, err = tx.ExecContext(ctx, tx.db.insertText(jobInsert, 1), r.jobArgs(nil)...)
	return err
}

// appendAll writes the appends of a batch together: their dedup lookups
// one by one (a later append of the batch sees an earlier one's key, as if
// they had run in turn), then one multi-row INSERT per table. Any error
// fails them all; the writer then runs the batch again op by op, so that
// only the append at fault fails.
func appendAll(ctx context.Context, tx *wtx, rows []*appendRow) error {
	// The batch's own keys, by hook and key: the index in fresh of the
	// append that wrote it.
	type hookKey struct{ hook, key string }
	var keys map[hookKey]int
	var fresh, jobs []*appendRow
	for _, r := range rows {
		if r.d.DedupKey == "" {
			r.stored, r.duplicateOf = r.state, ""
		} else if i, ok := keys[hookKey{r.d.HookID, r.d.DedupKey}]; ok {
			// An earlier append of this batch holds the key: the table
			// would say what its lookup says, once that entry is in.
			if first := fresh[i]; first.expires() > r.row.Received {
				r.stored, r.duplicateOf = postbox.StateDuplicate, first.d.ID
			} else {
				r.stored, r.duplicateOf = r.state, ""
				fresh[i] = r // the later entry replaces the expired one
			}
		} else {
			isNew, err := r.dedup(ctx, tx)
			if err != nil {
				return err
			}
			if isNew {
				if keys == nil {
					keys = map[hookKey]int{}
				}
				keys[hookKey{r.d.HookID, r.d.DedupKey}] = len(fresh)
				fresh = append(fresh, r)
			}
		}
		if r.stored == postbox.StatePending {
			jobs = append(jobs, r)
		}
	}
	if err := dedupInsert.exec(ctx, tx, fresh, (*appendRow).dedupArgs); err != nil {
		return err
	}
	for i, r := range rows {
		r.seq = int64(i + 1)
	}
	if err := deliveryInsert.exec(ctx, tx, rows, (*appendRow).deliveryArgs); err != nil {
		return err
	}
	return jobInsert.exec(ctx, tx, jobs, (*appendRow).jobArgs)
}

// multiInsert is an INSERT of many rows at once: its head, up to VALUES,
// one row's placeholders, and how many parameters a row binds.
type multiInsert struct {
	head, row string
	vars      int
}

// text is the statement for n rows.
func (m *multiInsert) text(n int) string {
	var b strings.Builder
	b.Grow(len(m.head) + n*(len(m.row)+2))
	b.WriteString(m.head)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(m.row)
	}
	return b.String()
}

// chunk is how many of n rows the next statement carries: a power of two,
// so that the writer's statement cache holds a few texts per table (a
// batch of 37 is three statements: 32, 4 and 1 rows), and never more rows
// than maxVariables allows.
func (m *multiInsert) chunk(n int) int {
	limit := min(n, maxVariables/m.vars)
	c := 1
	for c*2 <= limit {
		c *= 2
	}
	return c
}

// exec inserts rows, as many per statement as chunk says; args appends a
// row's parameters.
func (m *multiInsert) exec(ctx context.Context, tx *wtx, rows []*appendRow, args func(*appendRow, []any) []any) error {
	var buf []any
	for len(rows) > 0 {
		n := m.chunk(len(rows))
		buf = buf[:0]
		for _, r := range rows[:n] {
			buf = args(r, buf)
		}
		if _, err := tx.ExecContext(ctx, tx.db.insertText(m, n), buf...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// insertKey names the text of a multi-row INSERT of n rows.
type insertKey struct {
	m *multiInsert
	n int
}

// insertText is m's statement for n rows, built once (writer only).
func (db *DB) insertText(m *multiInsert, n int) string {
	k := insertKey{m, n}
	q, ok := db.inserts[k]
	if !ok {
		q = m.text(n)
		db.inserts[k] = q
	}
	return q
}
