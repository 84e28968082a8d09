package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/sqlite"
	"github.com/postbox/postbox/storetest"
)

// BenchmarkClaimPastSkipped measures a claim that must step over the due
// jobs of a paused destination (skipped actions) to find one it may take:
// the queue asks this at every turn while a destination is down.
func BenchmarkClaimPastSkipped(b *testing.B) {
	for _, skipped := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("skipped=%d", skipped), func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "postbox.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			for range skipped {
				if err := db.Append(ctx, storetest.NewDelivery("down", 1)); err != nil {
					b.Fatal(err)
				}
			}
			if err := db.Append(ctx, storetest.NewDelivery("up", 1)); err != nil {
				b.Fatal(err)
			}
			skip := []postbox.ActionRef{{Hook: "down", Action: 0}, {Hook: "other", Action: 1}, {Hook: "other", Action: 2}}
			b.ResetTimer()
			for range b.N {
				jobs, _, err := db.Advance(ctx, postbox.Step{Claim: 1, Lease: time.Nanosecond, SkipActions: skip})
				if err != nil || len(jobs) != 1 || jobs[0].HookID != "up" {
					b.Fatalf("claimed %v, %v; want the one job of up", jobs, err)
				}
			}
		})
	}
}
