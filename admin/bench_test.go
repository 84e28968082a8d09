package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/admin"
	"github.com/postbox/postbox/sqlite"
)

// BenchmarkAPI100k measures the console's requests against a store of
// 100,000 deliveries: the console must stay usable at that size.
//
//	go test -run '^$' -bench API100k ./admin/
func BenchmarkAPI100k(b *testing.B) {
	const n = 100_000
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "postbox.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	start := time.Now().Add(-n * time.Second / 10) // 10 a second, up to now
	var ids postbox.IDGen
	var wg sync.WaitGroup
	const writers = 64
	var middle string
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += writers {
				at := start.Add(time.Duration(i) * time.Second / 10)
				hook := []string{"lamp", "gh", "stripe"}[i%3]
				d := &postbox.Delivery{ID: ids.New(at), HookID: hook, Method: "POST", Path: "/hooks/" + hook,
					Header: http.Header{"Content-Type": {"application/json"}}, RemoteAddr: "192.0.2.1:1000",
					Received: at, Body: fmt.Appendf(nil, `{"n":%d,"text":"%0200d"}`, i, i)}
				if err := db.Append(context.Background(), d); err != nil {
					b.Error(err)
					return
				}
				if i == n/2 {
					middle = d.ID
				}
			}
		}()
	}
	wg.Wait()
	srv := admin.New(admin.Options{Store: db, Hooks: testHooks()})
	defer srv.Close()
	ts := httptest.NewServer(srv)
	defer ts.Close()

	for _, path := range []string{
		"/api/deliveries",
		"/api/deliveries?hook=gh",
		"/api/deliveries?state=done&limit=500",
		"/api/deliveries?before=" + middle,
		"/api/deliveries?q=%22n%22:99999,",
		"/api/deliveries/" + middle,
		"/api/hooks",
		"/api/stats/minutes?hook=lamp&minutes=60",
		"/api/rejections",
		"/metrics",
		"/",
	} {
		b.Run(path, func(b *testing.B) {
			for b.Loop() {
				res, err := ts.Client().Get(ts.URL + path)
				if err != nil {
					b.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					b.Fatalf("%s: %d", path, res.StatusCode)
				}
			}
		})
	}
}

// BenchmarkObserve measures what the ingress and the queue pay per event
// on the hot path, with and without a live-feed subscriber that never
// reads (its buffer full, every event dropped for it).
func BenchmarkObserve(b *testing.B) {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "postbox.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	srv := admin.New(admin.Options{Store: db, Hooks: testHooks(), Buffer: 1})
	defer srv.Close()
	accepted := postbox.RequestEvent{Time: time.Now(), Hook: "lamp", Method: "POST", Path: "/post", Remote: "192.0.2.1:1",
		Status: 200, Delivery: "01JX3Q8K5T2M9W7Y4B6C1D0E2F", Duration: time.Millisecond, Bytes: 100}
	rejected := postbox.RequestEvent{Time: time.Now(), Hook: "lamp", Method: "POST", Path: "/post", Remote: "192.0.2.1:1",
		Status: 401, Reason: "authentication failed: signature mismatch", Sample: make([]byte, 4096), Bytes: 4096}
	attempt := postbox.AttemptEvent{Hook: "lamp", Next: postbox.StateDone,
		Attempt: postbox.Attempt{Kind: "exec", Outcome: postbox.OutcomeOK, Duration: time.Millisecond}}
	run := func(b *testing.B) {
		b.Run("accepted", func(b *testing.B) {
			for b.Loop() {
				srv.Request(accepted)
			}
		})
		b.Run("rejected", func(b *testing.B) {
			for b.Loop() {
				srv.Request(rejected)
			}
		})
		b.Run("attempt", func(b *testing.B) {
			for b.Loop() {
				srv.Attempt(attempt)
			}
		})
	}
	b.Run("no subscriber", run)
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/events", nil)
	res, err := ts.Client().Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	b.Run("a stalled subscriber", run)
}

// BenchmarkMetricsScrape measures one GET /metrics of a server that has
// seen requests to 20 hooks with 5 statuses each and attempts of 3 kinds,
// over a store of 20 hooks' deliveries: what a Prometheus scrape costs.
func BenchmarkMetricsScrape(b *testing.B) {
	db, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "postbox.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	srv := admin.New(admin.Options{Store: db, Hooks: testHooks()})
	defer srv.Close()
	var ids postbox.IDGen
	for i := range 20 {
		hook := fmt.Sprintf("hook%d", i)
		d := &postbox.Delivery{ID: ids.New(time.Now()), HookID: hook, Method: "POST", Path: "/hooks/" + hook,
			Received: time.Now(), Body: []byte(`{}`)}
		if err := db.Append(context.Background(), d); err != nil {
			b.Fatal(err)
		}
		for _, status := range []int{200, 202, 401, 404, 503} {
			srv.Request(postbox.RequestEvent{Time: time.Now(), Hook: hook, Status: status, Duration: time.Millisecond})
		}
		for _, kind := range []string{"exec", "http", "mqtt"} {
			srv.Attempt(postbox.AttemptEvent{Hook: hook, Attempt: postbox.Attempt{Kind: kind, Outcome: postbox.OutcomeOK}})
		}
	}
	req := httptest.NewRequest("GET", "http://localhost/metrics", nil)
	b.ReportAllocs()
	var n int
	for b.Loop() {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("/metrics: %d", w.Code)
		}
		n = w.Body.Len()
	}
	b.ReportMetric(float64(n), "bytes")
}
