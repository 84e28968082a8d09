package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/prune"
	"github.com/postbox/postbox/sqlite"
	"github.com/postbox/postbox/storetest"
)

// pruneRows is how many old deliveries the benchmark's store holds before
// it is measured: with prune=on, max_age removes all of them while the
// appends run.
const pruneRows = 200_000

// BenchmarkAppendDuringPrune measures the latency of durable appends from
// 64 callers (the harness's 2 KiB body) in a store of pruneRows old
// deliveries, without a prune (prune=off) and while a Retainer removes
// all of them by max_age in batches (prune=on). It reports p50 and p99 in
// milliseconds and, for prune=on, the share of the appends made while the
// prune ran (run it with -benchtime so that the share is near 1, e.g.
// -benchtime 20000x). The design target: p99 on within 2× of off.
func BenchmarkAppendDuringPrune(b *testing.B) {
	body, err := os.ReadFile("../bench/testdata/push.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"off", "on"} {
		b.Run("prune="+mode, func(b *testing.B) {
			ctx := context.Background()
			db, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "postbox.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			fill(b, db, body)
			rt := prune.NewRetainer(db, prune.Retention{Default: prune.Policy{MaxAge: 30 * 24 * time.Hour}})
			var pruning atomic.Bool
			pruneDone := make(chan prune.Report, 1)
			b.ResetTimer()
			if mode == "on" {
				pruning.Store(true)
				go func() {
					rep, err := rt.Prune(ctx)
					if err != nil {
						b.Error(err)
					}
					pruning.Store(false)
					pruneDone <- rep
				}()
			}
			var mu sync.Mutex
			var lat []time.Duration
			var during atomic.Int64
			var next atomic.Int64
			var wg sync.WaitGroup
			for range 64 {
				wg.Go(func() {
					mine := make([]time.Duration, 0, b.N/64+1)
					for next.Add(1) <= int64(b.N) {
						d := storetest.NewDelivery("bench", 1)
						d.Body = body
						on := pruning.Load()
						t0 := time.Now()
						if err := db.Append(ctx, d); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(t0))
						if on {
							during.Add(1)
						}
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
			}
			wg.Wait()
			b.StopTimer()
			slices.Sort(lat)
			q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / 1e6 }
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
			if mode == "on" {
				rep := <-pruneDone
				b.ReportMetric(float64(during.Load())/float64(len(lat)), "during-prune")
				b.ReportMetric(float64(rep.Total), "pruned")
				b.ReportMetric(rep.Duration.Seconds(), "prune-s")
			}
		})
	}
}

// fill appends pruneRows settled deliveries received 40 days ago.
func fill(b *testing.B, db *sqlite.DB, body []byte) {
	b.Helper()
	ctx := context.Background()
	old := time.Now().Add(-40 * 24 * time.Hour)
	var wg sync.WaitGroup
	var n atomic.Int64
	for range 64 {
		wg.Go(func() {
			var g postbox.IDGen
			for n.Add(1) <= pruneRows {
				d := storetest.NewDelivery("old", 0)
				d.Received, d.ID, d.Body = old, g.New(old), body
				if err := db.Append(ctx, d); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
