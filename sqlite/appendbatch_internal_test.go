package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/storerow"
	"github.com/postbox/postbox/storetest"
)

func openTemp(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newAppendRow(t *testing.T, d *postbox.Delivery) *appendRow {
	t.Helper()
	row, err := storerow.Of(d)
	if err != nil {
		t.Fatal(err)
	}
	return &appendRow{d: d, row: row, state: postbox.StatePending}
}

// TestAppendAllCutsAtTheVariableLimit writes more rows at once than one
// statement may bind (15 parameters a delivery, 32766 at most): the rows
// are cut into several statements, and all of them are stored.
func TestAppendAllCutsAtTheVariableLimit(t *testing.T) {
	db := openTemp(t)
	const n = maxVariables/15 + 300 // 2484 deliveries: 37260 parameters
	rows := make([]*appendRow, n)
	for i := range rows {
		rows[i] = newAppendRow(t, storetest.NewDelivery("h", 1))
	}
	if err := db.write(context.Background(), func(ctx context.Context, tx *wtx) error {
		return appendAll(ctx, tx, rows)
	}); err != nil {
		t.Fatal(err)
	}
	var deliveries, jobs int
	if err := db.r.QueryRow(`SELECT (SELECT count(*) FROM deliveries), (SELECT count(*) FROM jobs)`).Scan(&deliveries, &jobs); err != nil {
		t.Fatal(err)
	}
	if deliveries != n || jobs != n {
		t.Errorf("stored %d deliveries and %d jobs, want %d of each", deliveries, jobs, n)
	}
}

func TestChunkIsAPowerOfTwoWithinTheLimit(t *testing.T) {
	for _, tt := range []struct{ vars, n, want int }{
		{15, 1, 1}, {15, 37, 32}, {15, 64, 64}, {15, 5000, 2048}, {4, 100000, 4096},
	} {
		m := &multiInsert{vars: tt.vars}
		if got := m.chunk(tt.n); got != tt.want || got*tt.vars > maxVariables {
			t.Errorf("chunk(%d) of %d parameters a row = %d, want %d", tt.n, tt.vars, got, tt.want)
		}
	}
}

// TestInBatchDedupWindow: a later append of the same batch whose key's
// first entry has expired by its own receipt is new, and its entry
// replaces the first, as if the two had been written one after the other.
func TestInBatchDedupWindow(t *testing.T) {
	db := openTemp(t)
	first := storetest.NewDelivery("h", 0)
	first.DedupKey, first.DedupWindow = "k", time.Millisecond
	first.Received = time.Now().Add(-time.Second)
	second := storetest.NewDelivery("h", 0)
	second.DedupKey, second.DedupWindow = "k", time.Hour
	third := storetest.NewDelivery("h", 0)
	third.DedupKey, third.DedupWindow = "k", time.Hour
	rows := []*appendRow{newAppendRow(t, first), newAppendRow(t, second), newAppendRow(t, third)}
	for _, r := range rows {
		r.state = postbox.StateDone
	}
	if err := db.write(context.Background(), func(ctx context.Context, tx *wtx) error {
		return appendAll(ctx, tx, rows)
	}); err != nil {
		t.Fatal(err)
	}
	want := []struct {
		state postbox.State
		of    string
	}{{postbox.StateDone, ""}, {postbox.StateDone, ""}, {postbox.StateDuplicate, second.ID}}
	for i, r := range rows {
		if r.stored != want[i].state || r.duplicateOf != want[i].of {
			t.Errorf("append %d: %s (of %q), want %s (of %q)", i, r.stored, r.duplicateOf, want[i].state, want[i].of)
		}
	}
	var holder string
	if err := db.r.QueryRow(`SELECT delivery FROM dedup WHERE hook = 'h' AND key = 'k'`).Scan(&holder); err != nil || holder != second.ID {
		t.Errorf("the key's entry is held by %q (%v), want %s", holder, err, second.ID)
	}
}

// TestCancelledOpDoesNotRunOthersTwice: an op whose caller gave up before
// the writer reached it fails alone, and the batch's other writes happen
// once (before, the batch was committed with them and then run again with
// savepoints, so that an append beside a cancelled op was inserted, then
// answered with a conflict against itself).
func TestCancelledOpDoesNotRunOthersTwice(t *testing.T) {
	db := openTemp(t)
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	runs := 0
	d := storetest.NewDelivery("h", 1)
	r := newAppendRow(t, d)
	batch := []*op{
		{ctx: gone, fn: func(context.Context, *wtx) error { return nil }},
		{ctx: context.Background(), fn: func(context.Context, *wtx) error { runs++; return nil }},
		{ctx: context.Background(), fn: r.one, app: r},
	}
	c := db.commit(batch)
	if c.err != nil {
		t.Fatal(c.err)
	}
	if c.errs[0] == nil || c.errs[1] != nil || c.errs[2] != nil {
		t.Errorf("errors %v, want only the cancelled op's", c.errs)
	}
	if runs != 1 {
		t.Errorf("the op beside a cancelled one ran %d times in committed transactions, want 1", runs)
	}
	if got, err := db.Delivery(context.Background(), d.ID); err != nil || got.State != postbox.StatePending {
		t.Errorf("the append beside a cancelled op: %v, %v", got, err)
	}
}
