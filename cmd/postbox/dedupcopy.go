package main

import (
	"context"
	"fmt"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/storerow"
)

// dedupLister is a store that lists its live dedup keys (sqlite.DB and
// postgres.DB).
type dedupLister interface {
	DedupKeys(ctx context.Context, after storerow.DedupKey, now time.Time, limit int) ([]storerow.DedupKey, error)
}

// dedupImporter is a store that takes dedup keys as they are.
type dedupImporter interface {
	ImportDedup(ctx context.Context, keys []storerow.DedupKey) (int64, error)
}

// copyDedup copies src's dedup keys that are still live into dst, a page
// at a time, so that a delivery repeated after the move is still dropped
// as a duplicate. Keys dst has already are left as they are. It returns
// how many it stored; a store that cannot list or take keys copies none.
func copyDedup(ctx context.Context, src, dst postbox.Store) (int64, error) {
	l, ok1 := src.(dedupLister)
	im, ok2 := dst.(dedupImporter)
	if !ok1 || !ok2 {
		return 0, nil
	}
	now := time.Now()
	var after storerow.DedupKey
	var total int64
	for {
		keys, err := l.DedupKeys(ctx, after, now, copyPage)
		if err != nil {
			return total, fmt.Errorf("read dedup keys: %w", err)
		}
		if len(keys) == 0 {
			return total, nil
		}
		n, err := im.ImportDedup(ctx, keys)
		total += n
		if err != nil {
			return total, fmt.Errorf("write dedup keys: %w", err)
		}
		after = keys[len(keys)-1]
	}
}
