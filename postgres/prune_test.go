package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/storetest"
)

func TestPruneDedup(t *testing.T) {
	ctx := context.Background()
	db := openDB(t, freshSchema(t))
	appendKey := func(key string, window time.Duration) *postbox.Delivery {
		d := storetest.NewDelivery("h", 0)
		d.DedupKey, d.DedupWindow = key, window
		if err := db.Append(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	// More expired keys than one batch deletes, and one that still holds.
	for i := range pruneBatch + 5 {
		appendKey("old-"+string(rune('a'+i%26))+time.Duration(i).String(), time.Millisecond)
	}
	first := appendKey("live", time.Hour)
	time.Sleep(5 * time.Millisecond)

	n, err := db.pruneDedup(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n != pruneBatch+5 {
		t.Errorf("pruned %d keys, want %d", n, pruneBatch+5)
	}
	var left int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM dedup`).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 1 {
		t.Errorf("%d keys left, want 1 (the live one)", left)
	}
	if d := appendKey("live", time.Hour); d.DuplicateOf != first.ID {
		t.Errorf("after pruning, a repeat of the live key is a duplicate of %q, want %q", d.DuplicateOf, first.ID)
	}
	if n, err := db.pruneDedup(ctx, time.Now()); err != nil || n != 0 {
		t.Errorf("second prune = %d, %v; want 0, nil", n, err)
	}
}
