package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/postbox/postbox/sqlite"
	"github.com/postbox/postbox/storetest"
)

// BenchmarkAppend measures durable appends (WAL fsync'd before return, group
// commit) of a delivery with the harness's 2 KiB GitHub body: from one
// caller, where every append waits for its own fsync, and from 64 callers
// at once, as the ingress makes them under load, where appends share
// commits. actions=1 also inserts the job row.
func BenchmarkAppend(b *testing.B) {
	body, err := os.ReadFile("../bench/testdata/push.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"single", "parallel64"} {
		for _, actions := range []int{0, 1} {
			b.Run(fmt.Sprintf("%s/actions=%d", mode, actions), func(b *testing.B) {
				db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "postbox.db"))
				if err != nil {
					b.Fatal(err)
				}
				defer db.Close()
				var commits, batched int
				var busy time.Duration
				t0 := time.Now()
				db.SetCommitObserver(func(d time.Duration, n int) { commits++; batched += n; busy += d })
				b.ReportAllocs()
				b.SetBytes(int64(len(body)))
				cpu0 := cpuTime()
				if mode == "single" {
					for b.Loop() {
						d := storetest.NewDelivery("bench", actions)
						d.Body = body
						if err := db.Append(context.Background(), d); err != nil {
							b.Fatal(err)
						}
					}
				} else {
					b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							d := storetest.NewDelivery("bench", actions)
							d.Body = body
							if err := db.Append(context.Background(), d); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				// writer-busy sums, over the run, each batch's time from the
				// start of its transaction to its fsync's end, over the run's
				// time: above 1 when commits overlap fsyncs (pipelining).
				// CPU time per append shares less of a busy machine's
				// noise than ns/op, which includes waiting for fsync.
				b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
				if commits > 0 {
					b.ReportMetric(float64(batched)/float64(commits), "appends/commit")
					b.ReportMetric(float64(busy)/float64(time.Since(t0)), "writer-busy")
				}
			})
		}
	}
}

// cpuTime returns the CPU time this process used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
