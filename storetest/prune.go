package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

// DedupPruner is a store that deletes expired dedup keys on request (both
// stores also do it in the background).
type DedupPruner interface {
	PruneDedup(ctx context.Context, before time.Time) (int64, error)
}

// pruneBatch is more than one batch of the stores' background pruning.
const pruneBatch = 1000

var pruneTests = []storeCase{
	{"expired dedup keys are pruned, live ones still deduplicate", testPruneDedup},
}

func testPruneDedup(t *testing.T, s postbox.Store) {
	p, ok := s.(DedupPruner)
	if !ok {
		t.Skip("the store does not prune dedup keys on request")
	}
	ctx := context.Background()
	appendKey := func(key string, window time.Duration) *postbox.Delivery {
		d := NewDelivery("h", 0)
		d.DedupKey, d.DedupWindow = key, window
		mustAppend(t, s, d)
		return d
	}
	for i := range pruneBatch + 5 {
		appendKey(fmt.Sprintf("old-%d", i), time.Millisecond)
	}
	first := appendKey("live", time.Hour)
	time.Sleep(5 * time.Millisecond)

	n, err := p.PruneDedup(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n != pruneBatch+5 {
		t.Errorf("pruned %d keys, want %d", n, pruneBatch+5)
	}
	if d := appendKey("live", time.Hour); d.DuplicateOf != first.ID {
		t.Errorf("after pruning, a repeat of the live key is a duplicate of %q, want %q", d.DuplicateOf, first.ID)
	}
	if d := appendKey("old-1", time.Hour); d.DuplicateOf != "" {
		t.Errorf("a pruned key's repeat is a duplicate of %q, want a new delivery", d.DuplicateOf)
	}
	if n, err := p.PruneDedup(ctx, time.Now()); err != nil || n != 0 {
		t.Errorf("second prune = %d, %v; want 0, nil", n, err)
	}
}
