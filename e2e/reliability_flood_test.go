package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// floodConfig admits 8 hook requests at once; the slow hook holds each of
// them for a second (a sync hook runs its action before answering).
const floodConfig = `
listen: 127.0.0.1:0
admin: off
data: ./data
limits:
  max_inflight: 8
hooks:
  - id: slow
    mode: sync
    timeout: 10s
    actions:
      - exec: {command: /bin/sleep, args: ["1"]}
  - id: ingest
`

// TestFlood sends far more concurrent requests than limits.max_inflight
// admits: the excess must be answered 503 with Retry-After, at once rather
// than after the admitted ones (the time to 503 is measured and logged),
// memory must stay bounded, and once the flood ends normal requests must
// succeed again.
func TestFlood(t *testing.T) {
	t.Parallel()
	s := startServer(t, floodConfig)
	before := s.memory()

	// A burst: every request at the same moment.
	const burst = 200
	b := flood(t, s.url+"/hooks/slow", burst, 0)
	t.Logf("burst of %d concurrent requests: %d answered 2xx (%s), %d answered 503 (%s)",
		burst, len(b.ok), summarize(b.ok), len(b.busy), summarize(b.busy))

	// A sustained flood: 64 clients, each sending again as soon as it is
	// answered, for a few seconds.
	const clients, lasting = 64, 3 * time.Second
	f := flood(t, s.url+"/hooks/slow", clients, lasting)
	during := s.memory()
	t.Logf("sustained flood, %d clients for %s: %d answered 2xx (%s), %d answered 503 (%s)",
		clients, lasting, len(f.ok), summarize(f.ok), len(f.busy), summarize(f.busy))
	t.Logf("server memory: before %s; after the floods %s", before, during)
	t.Logf("time to 503 inside the server (its log's duration): %s", summarize(rejectedDurations(s)))

	for _, r := range []floodResult{b, f} {
		if len(r.ok) == 0 {
			t.Errorf("no request was admitted")
		}
		if len(r.busy) == 0 {
			t.Errorf("no request was answered 503 beyond max_inflight")
		}
		for _, e := range r.errs {
			t.Errorf("%s", e)
		}
	}
	checkBounded(t, during)

	// The flood is over (flood waited for every answer): the cap is free.
	for i := range 20 {
		resp, err := s.client.Post(s.url+"/hooks/ingest", "application/json", strings.NewReader(`{"after":"flood"}`))
		if err != nil {
			t.Fatalf("request %d after the flood: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			t.Errorf("request %d after the flood: status %d, want 2xx", i, resp.StatusCode)
		}
	}
}

// floodResult is what the requests of a flood got: the durations of the
// admitted (2xx) and refused (503) ones, and anything else that happened.
type floodResult struct {
	ok, busy []time.Duration
	errs     []string
}

// flood runs n clients at once against url. With lasting 0 each sends one
// request (a burst, all released together); otherwise each sends again as
// soon as it is answered until lasting has passed. Every answer must be
// 2xx, or 503 with Retry-After; each client has its own connections.
func flood(t *testing.T, url string, n int, lasting time.Duration) floodResult {
	t.Helper()
	var (
		mu      sync.Mutex
		r       floodResult
		wg      sync.WaitGroup
		release = make(chan struct{})
	)
	end := time.Now().Add(lasting)
	for c := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			<-release
			for i := 0; i == 0 || time.Now().Before(end); i++ {
				start := time.Now()
				resp, err := client.Post(url, "application/json", strings.NewReader(fmt.Sprintf(`{"c":%d,"i":%d}`, c, i)))
				took := time.Since(start)
				mu.Lock()
				switch {
				case err != nil:
					r.errs = append(r.errs, fmt.Sprintf("client %d request %d: %v", c, i, err))
				case resp.StatusCode/100 == 2:
					r.ok = append(r.ok, took)
				case resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
					r.busy = append(r.busy, took)
				default:
					r.errs = append(r.errs, fmt.Sprintf("client %d request %d: status %d, Retry-After %q; want 2xx, or 503 with Retry-After",
						c, i, resp.StatusCode, resp.Header.Get("Retry-After")))
				}
				mu.Unlock()
				if err != nil {
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
	}
	close(release)
	wg.Wait()
	return r
}

// rejectedDurations returns the durations the server logged for the
// requests it answered 503: its own time to refuse, without the client's
// and the network's.
func rejectedDurations(s *server) []time.Duration {
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	var ds []time.Duration
	for _, r := range s.logs.records {
		if r["msg"] == "rejected" && r["status"] == float64(http.StatusServiceUnavailable) {
			if ns, ok := r["duration"].(float64); ok {
				ds = append(ds, time.Duration(ns))
			}
		}
	}
	return ds
}
