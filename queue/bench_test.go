package queue_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/action/exec"
	"github.com/postbox/postbox/action/httpcall"
	"github.com/postbox/postbox/queue"
	"github.com/postbox/postbox/sqlite"
	"github.com/postbox/postbox/storetest"
)

// counter counts finished attempts.
type counter struct {
	postbox.NopObserver
	n atomic.Int64
}

func (c *counter) Attempt(postbox.AttemptEvent) { c.n.Add(1) }

func benchHook(b *testing.B) *postbox.Hook {
	a, err := exec.New(exec.Config{Command: "/bin/true", Args: []string{"{{ .Payload.state }}", "{{ .Delivery.ID }}"}, Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	return &postbox.Hook{ID: "bench", Actions: []postbox.Action{a}}
}

func benchStore(b *testing.B) *sqlite.DB {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "postbox.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// runQueue starts a queue of workers over db and stops it when the
// benchmark ends.
func runQueue(b *testing.B, db *sqlite.DB, h *postbox.Hook, workers int, obs postbox.Observer) *queue.Queue {
	q := queue.New(queue.Options{Store: db, Hooks: []*postbox.Hook{h}, Workers: workers, Observer: obs})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	return q
}

// BenchmarkDrain measures how fast the queue works off a stored backlog of
// exec actions (/bin/true with two templated arguments), as after a burst.
func BenchmarkDrain(b *testing.B) {
	for _, workers := range []int{2, 8} {
		b.Run(map[int]string{2: "workers=2", 8: "workers=8"}[workers], func(b *testing.B) {
			db := benchStore(b)
			h := benchHook(b)
			for i := 0; i < b.N; i++ {
				if err := db.Append(context.Background(), storetest.NewDelivery(h.ID, 1)); err != nil {
					b.Fatal(err)
				}
			}
			c := &counter{}
			var commits, writes atomic.Int64
			db.SetCommitObserver(func(_ time.Duration, n int) { commits.Add(1); writes.Add(int64(n)) })
			b.ResetTimer()
			q := runQueue(b, db, h, workers, c)
			q.Notify()
			for c.n.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "actions/s")
			b.ReportMetric(float64(commits.Load())/float64(b.N), "commits/action")
			b.ReportMetric(float64(writes.Load())/float64(b.N), "writes/action")
		})
	}
}

// BenchmarkUnderLoad measures the actions done while 32 writers append
// deliveries as fast as the store takes them, as under a load of requests.
func BenchmarkUnderLoad(b *testing.B) {
	for _, workers := range []int{2, 8} {
		b.Run(map[int]string{2: "workers=2", 8: "workers=8"}[workers], func(b *testing.B) {
			db := benchStore(b)
			h := benchHook(b)
			c := &counter{}
			q := runQueue(b, db, h, workers, c)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			var appended atomic.Int64
			for range 32 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for ctx.Err() == nil {
						if err := db.Append(ctx, storetest.NewDelivery(h.ID, 1)); err != nil {
							return
						}
						appended.Add(1)
						q.Notify()
					}
				}()
			}
			b.ResetTimer()
			for c.n.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			cancel()
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "actions/s")
			b.ReportMetric(float64(appended.Load())/b.Elapsed().Seconds(), "appends/s")
		})
	}
}

// BenchmarkDrainHTTP measures how fast the queue works off a stored backlog
// of http actions to a local endpoint that answers at once: the I/O pool,
// batched claims and kept-alive connections.
func BenchmarkDrainHTTP(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
	}))
	b.Cleanup(srv.Close)
	a, err := httpcall.New(httpcall.Config{URL: srv.URL + "/in/{{ .Delivery.ID }}", Timeout: 10 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	h := &postbox.Hook{ID: "bench", Actions: []postbox.Action{a}}
	db := benchStore(b)
	for i := 0; i < b.N; i++ {
		if err := db.Append(context.Background(), storetest.NewDelivery(h.ID, 1)); err != nil {
			b.Fatal(err)
		}
	}
	c := &counter{}
	var commits, writes atomic.Int64
	db.SetCommitObserver(func(_ time.Duration, n int) { commits.Add(1); writes.Add(int64(n)) })
	b.ResetTimer()
	q := runQueue(b, db, h, 2, c)
	q.Notify()
	for c.n.Load() < int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "actions/s")
	b.ReportMetric(float64(commits.Load())/float64(b.N), "commits/action")
}
