package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests in this file drive issue 15's delivery engine through the
// binary: http actions run in an I/O pool apart from the CPU pool of
// commands, and each destination has its own concurrency cap, rate limit
// and circuit breaker. Their destinations are destEndpoints.

// destSend posts one delivery per id to hook, the JSON body {"id": id},
// from clients concurrent clients, and returns the Postbox-Delivery of
// each, by id. Any answer but 200 fails the test.
func destSend(t *testing.T, s *server, hook string, clients int, ids ...string) map[string]string {
	t.Helper()
	var (
		mu   sync.Mutex
		got  = map[string]string{}
		errs []string
		wg   sync.WaitGroup
		next = make(chan string)
	)
	for range clients {
		wg.Go(func() {
			for id := range next {
				resp, err := s.client.Post(s.url+"/hooks/"+hook, "application/json", strings.NewReader(`{"id":"`+id+`"}`))
				if err != nil {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("%s: %v", id, err))
					mu.Unlock()
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode != http.StatusOK {
					errs = append(errs, fmt.Sprintf("%s: status %d", id, resp.StatusCode))
				}
				got[id] = resp.Header.Get("Postbox-Delivery")
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		next <- id
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d deliveries to %s were not accepted: %s", len(errs), len(ids), hook, strings.Join(errs, "; "))
	}
	return got
}

// destIDs returns n ids: prefix-0, prefix-1, ...
func destIDs(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return ids
}

// hangingConfig has a hook whose destination never answers (within the
// action's 30 s) beside one whose destination is healthy, on the fewest
// CPU workers: before issue 15, 2 hanging calls took every worker.
const hangingConfig = `
listen: 127.0.0.1:0
admin: off
@STORE@
workers: 2
hooks:
  - id: slow
    actions:
      - http: {url: "@SLOW@/hang", timeout: 30s}
  - id: fast
    actions:
      - http: {url: "@FAST@/ok", timeout: 5s}
`

// TestDestinationThatHangsDoesNotDelayAnotherHook sends 8 deliveries to a
// destination that never answers and, once all 8 calls hang there, 20 to
// a healthy one: all 20 arrive within a few seconds. With http actions in
// the 2-worker CPU pool (the engine before issue 15), 2 hanging calls
// blocked every other delivery for 30 s.
func TestDestinationThatHangsDoesNotDelayAnotherHook(t *testing.T) {
	t.Parallel()
	for _, st := range destStores {
		t.Run(st.name, func(t *testing.T) {
			const slowCalls, fastCalls = 8, 20
			slow := newDestEndpoint(t, true, 0, 0)
			fast := newDestEndpoint(t, false, 0, 0)
			s := startServer(t, destConfig(hangingConfig, st.line(t), "@SLOW@", slow.URL, "@FAST@", fast.URL))
			// Let the hanging calls answer before the server stops, so
			// that it stops at once rather than after its grace period.
			t.Cleanup(slow.unblock)

			destSend(t, s, "slow", 4, destIDs("slow", slowCalls)...)
			eventually(t, 10*time.Second, func() string {
				if _, n := slow.seen(); n < slowCalls {
					return fmt.Sprintf("%d of %d calls to the hanging destination in flight: something caps them below the I/O pool and the destination's concurrency (64)", n, slowCalls)
				}
				return ""
			})

			sent := time.Now()
			destSend(t, s, "fast", 4, destIDs("fast", fastCalls)...)
			eventually(t, 5*time.Second, func() string {
				if got, _ := fast.seen(); len(got) < fastCalls {
					return fmt.Sprintf("%d of %d deliveries reached the healthy destination while %d calls hang at the other", len(got), fastCalls, slowCalls)
				}
				return ""
			})
			got, _ := fast.seen()
			last := got[len(got)-1].at.Sub(sent)
			if _, n := slow.seen(); n != slowCalls {
				t.Errorf("%d calls in flight at the hanging destination after the healthy one got its deliveries, want still %d", n, slowCalls)
			}
			if calls, _ := slow.seen(); len(calls) != slowCalls {
				t.Errorf("the hanging destination was called %d times, want %d (no retry before the 30 s timeout)", len(calls), slowCalls)
			}
			t.Logf("%d calls hanging; %d deliveries to the other destination all arrived %s after they were first sent",
				slowCalls, fastCalls, last.Round(time.Millisecond))
		})
	}
}

// rateConfig paces the calls to @RATED@ at 20 a second, one at a time.
const rateConfig = `
listen: 127.0.0.1:0
admin: off
data: ./data
destinations:
  "@RATED@": {rate: 20/s, burst: 1}
hooks:
  - id: paced
    actions:
      - http: {url: "@RATED@/in", timeout: 5s}
`

// TestDestinationRateLimitIsHonouredWithinTenPercent sends 41 deliveries
// at once to a destination limited to 20 calls a second with a burst of 1:
// the 40 intervals between the calls' arrivals make 20/s within 10%, and
// no 11 calls in a row come faster than the token bucket allows.
func TestDestinationRateLimitIsHonouredWithinTenPercent(t *testing.T) {
	t.Parallel()
	const n, rate = 41, 20.0
	e := newDestEndpoint(t, false, 0, 0)
	s := startServer(t, strings.ReplaceAll(rateConfig, "@RATED@", e.URL))
	destSend(t, s, "paced", 8, destIDs("paced", n)...)
	eventually(t, 10*time.Second, func() string {
		if got, _ := e.seen(); len(got) < n {
			return fmt.Sprintf("%d of %d calls arrived", len(got), n)
		}
		return ""
	})
	got, _ := e.seen()
	if len(got) != n {
		t.Fatalf("%d calls arrived, want %d", len(got), n)
	}
	span := got[n-1].at.Sub(got[0].at)
	measured := float64(n-1) / span.Seconds()
	t.Logf("%d calls in %s: %.2f/s for a limit of %.0f/s", n, span.Round(time.Millisecond), measured, rate)
	if measured < rate*0.9 || measured > rate*1.1 {
		t.Errorf("the calls arrived at %.2f/s (%d in %s), want %.0f/s within 10%%", measured, n, span, rate)
	}
	// With a burst of 1, any 11 calls in a row take at least 10 intervals
	// of the rate less one; 50 ms of slack for the loopback's jitter.
	const window = 10
	least := time.Duration(float64(window-1)/rate*float64(time.Second)) - 50*time.Millisecond
	for i := window; i < n; i++ {
		if d := got[i].at.Sub(got[i-window].at); d < least {
			t.Errorf("calls %d to %d arrived within %s, want at least %s at %.0f/s with a burst of 1", i-window, i, d, least, rate)
			break
		}
	}
}

// breakerConfig retries @SHAKY@'s calls every 10-20 ms, and opens its
// breaker after 3 failures in a row for 500 ms, doubling to 2 s.
const breakerConfig = `
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0}
data: ./data
destinations:
  "@SHAKY@": {breaker: {failures: 3, cooldown: @COOLDOWN@, max_cooldown: 2s}}
hooks:
  - id: shaky
    retry: {attempts: 20, backoff: 10ms, max_backoff: 20ms}
    actions:
      - http: {url: "@SHAKY@/in", timeout: 5s, headers: {X-Delivery: "{{ .Delivery.ID }}"}}
`

// breakerOpened matches the log record of name's breaker opening.
func breakerOpened(name string) func(record) bool {
	return func(r record) bool {
		return r["msg"] == "destination failing; its circuit breaker is open, its jobs wait in the store" && r["destination"] == name
	}
}

// TestDestinationBreakerOpensProbesAndCloses sends a delivery to a
// destination that answers 503 (after 50 ms): after 3 calls its breaker
// opens, and no call goes during the 500 ms cooldown though the delivery's
// retries are due every 10-20 ms. Three more deliveries wait in the store
// meanwhile. One probe goes after the cooldown, alone; it fails, and the
// next cooldown is twice as long. The destination is made healthy: the
// second probe succeeds, the breaker closes and all four deliveries end
// done, after 4 failed calls and 4 good ones.
func TestDestinationBreakerOpensProbesAndCloses(t *testing.T) {
	t.Parallel()
	e := newDestEndpoint(t, false, 50*time.Millisecond, http.StatusServiceUnavailable)
	s := startServer(t, destConfig(breakerConfig, "", "@SHAKY@", e.URL, "@COOLDOWN@", "500ms"))
	waitOpen := func(from int) (record, int) { return destWaitOpen(t, s, e, from) }

	first := destSend(t, s, "shaky", 1, "first")
	r, calls := waitOpen(0)
	openedAt := time.Now()
	if calls != 3 || r["failures"] != 3.0 {
		t.Fatalf("the breaker opened after %d calls, logging %v failures; want 3 (breaker.failures)", calls, r["failures"])
	}
	from := s.logs.len()
	d := destStatus(t, s, e.name())
	if d.State == "half-open" && time.Since(openedAt) > 400*time.Millisecond {
		d.State = "open" // the cooldown ended before the question (a loaded machine)
	}
	if d.State != "open" || d.Failures != 3 || d.Opened != 1 {
		t.Errorf("GET /api/destinations says %+v after the breaker opened; want it open after 3 failures in a row, opened once", d)
	}
	later := destSend(t, s, "shaky", 3, "second", "third", "fourth")

	// The first probe fails: the breaker opens again, for twice as long.
	r, calls = waitOpen(from)
	if calls != 4 || r["failures"] != 4.0 {
		t.Fatalf("the breaker opened again after %d calls in all, logging %v failures; want one probe (4 calls, 4 failures)", calls, r["failures"])
	}
	e.status.Store(http.StatusOK)

	ids := []string{first["first"], later["second"], later["third"], later["fourth"]}
	for _, id := range ids {
		waitSettled(t, s, 0, id)
	}
	got, _ := e.seen()
	var statuses []string
	for _, a := range got {
		statuses = append(statuses, fmt.Sprint(a.status))
	}
	if want := "503 503 503 503 200 200 200 200"; strings.Join(statuses, " ") != want {
		t.Fatalf("the destination answered %s, want %s", strings.Join(statuses, " "), want)
	}
	// Call 3 opened the breaker when its answer came, 50 ms after it
	// arrived; calls 4 and 5 are the probes.
	const delay, cooldown, slack = 50 * time.Millisecond, 500 * time.Millisecond, time.Second
	for i, want := range []time.Duration{cooldown, 2 * cooldown} {
		probe := 3 + i
		gap := got[probe].at.Sub(got[probe-1].at)
		if gap < delay+want || gap > delay+want+slack {
			t.Errorf("probe %d went %s after the call before it, want after the %s cooldown (and its 50 ms answer), within %s", i+1, gap, want, slack)
		}
		if got[probe].concurrent != 1 {
			t.Errorf("probe %d had %d calls in flight with it, want it alone", i+1, got[probe].concurrent)
		}
	}
	for _, id := range ids {
		if d := s.delivery(id); d.State != "done" {
			t.Errorf("delivery %s is %s after %s, want done", id, d.State, attempts(d))
		}
	}
	if d := destStatus(t, s, e.name()); d.State != "closed" || d.Failures != 0 || d.Opened != 2 || d.OK != 4 || d.Failed != 4 || d.InFlight != 0 {
		t.Errorf("GET /api/destinations says %+v at the end; want it closed, no failures in a row, opened twice, 4 calls ok and 4 failed, none in flight", d)
	}
	t.Logf("calls at %s", destOffsets(got))
}

// TestDestinationResumedByHandDeliversAtOnce opens a destination's breaker
// for a minute; the destination recovers, and POST
// /api/destinations/resume closes the breaker: the delivery waiting in the
// store is called and done within seconds, not after the cooldown.
func TestDestinationResumedByHandDeliversAtOnce(t *testing.T) {
	t.Parallel()
	e := newDestEndpoint(t, false, 0, http.StatusServiceUnavailable)
	s := startServer(t, destConfig(breakerConfig, "", "@SHAKY@", e.URL, "@COOLDOWN@", "1m"))
	id := destSend(t, s, "shaky", 1, "waiting")["waiting"]
	destWaitOpen(t, s, e, 0)
	e.status.Store(http.StatusOK)
	if d := destStatus(t, s, e.name()); d.State != "open" || d.Until.Before(time.Now().Add(50*time.Second)) {
		t.Fatalf("GET /api/destinations says %+v; want it open for about a minute", d)
	}
	if status, answer := destAdmin(t, s, "POST", "/api/destinations/resume", `{"name":"`+e.name()+`"}`); status/100 != 2 {
		t.Fatalf("POST /api/destinations/resume answered %d %s", status, answer)
	}
	resumed := time.Now()
	r, err := s.logs.waitFrom(0, 10*time.Second, s.exited, func(r record) bool {
		return r["msg"] == "attempt" && r["delivery"] == id && r["next"] == "done"
	})
	if err != nil {
		calls, _ := e.seen()
		t.Fatalf("the delivery was not done within 10s of the resume (%d calls): %v", len(calls), err)
	}
	if calls, _ := e.seen(); len(calls) != 4 {
		t.Errorf("the destination was called %d times, want 4: 3 failures, then one after the resume", len(calls))
	}
	if d := destStatus(t, s, e.name()); d.State != "closed" {
		t.Errorf("GET /api/destinations says %+v after the resume, want it closed", d)
	}
	t.Logf("done %s after the resume: %v", time.Since(resumed).Round(time.Millisecond), r["status"])
}

// destWaitOpen waits for e's breaker to open, logged from line from on,
// and returns the log record and the calls e got by then.
func destWaitOpen(t *testing.T, s *server, e *destEndpoint, from int) (record, int) {
	t.Helper()
	r, err := s.logs.waitFrom(from, 10*time.Second, s.exited, breakerOpened(e.name()))
	if err != nil {
		calls, _ := e.seen()
		t.Fatalf("waiting for the breaker of %s to open after %d calls: %v", e.name(), len(calls), err)
	}
	calls, _ := e.seen()
	return r, len(calls)
}

// destStatus returns what GET /api/destinations says of the destination
// name.
func destStatus(t *testing.T, s *server, name string) destinationStatus {
	t.Helper()
	status, answer := destAdmin(t, s, "GET", "/api/destinations", "")
	var list struct {
		Destinations []destinationStatus `json:"destinations"`
	}
	if err := json.Unmarshal([]byte(answer), &list); status != http.StatusOK || err != nil {
		t.Fatalf("GET /api/destinations answered %d %s (%v)", status, answer, err)
	}
	for _, d := range list.Destinations {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("GET /api/destinations does not list %s: %s", name, answer)
	return destinationStatus{}
}

// destinationStatus is one destination of GET /api/destinations, decoded as
// a client that knows only the documented fields would.
type destinationStatus struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind"`
	State    string    `json:"state"`
	Until    time.Time `json:"until"`
	InFlight int       `json:"in_flight"`
	Held     int       `json:"held"`
	Limit    int       `json:"limit"`
	Failures int       `json:"consecutive_failures"`
	OK       uint64    `json:"ok"`
	Failed   uint64    `json:"failed"`
	Opened   uint64    `json:"opened"`
}

// destAdmin sends a request to the server's admin listener and returns the
// answer's status and body.
func destAdmin(t *testing.T, s *server, method, path, body string) (int, string) {
	t.Helper()
	ready := s.waitLog("the admin listener", func(r record) bool { return r["msg"] == "admin ready" })
	addr, _ := ready["addr"].(string)
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// destOffsets writes the arrival of each call after the first's, and its
// answer, e.g. "0s:503 12ms:503".
func destOffsets(calls []destArrival) string {
	var w []string
	for _, c := range calls {
		w = append(w, fmt.Sprintf("%s:%d", c.at.Sub(calls[0].at).Round(time.Millisecond), c.status))
	}
	return strings.Join(w, " ")
}

// relayConfig forwards every delivery to @SINK@.
const relayConfig = `
listen: 127.0.0.1:0
admin: off
@STORE@
io_workers: 64
hooks:
  - id: relay
    actions:
      - http: {url: "@SINK@/in", timeout: 5s, headers: {X-Delivery: "{{ .Delivery.ID }}"}}
`

// relayIOWorkers is io_workers in relayConfig: the most calls one server
// has made and not yet recorded, so the most that may be made again after
// a kill.
const relayIOWorkers = 64

// TestDestinationKill9DuringHeavyDeliveryLosesNothing sends 1,000
// deliveries from 16 clients to a hook that forwards each to a recording
// endpoint, kills the server with SIGKILL once 400 were answered, restarts
// it on the same store, and lets the clients go on (a request the kill
// cut off is not retried: its delivery may or may not be stored). Every
// delivery answered 2xx arrives at the endpoint at least once and ends
// done; nothing arrives that was not sent; and only calls the kill may
// have cut off arrive twice.
//
// On PostgreSQL the jobs the killed server had claimed wait for their
// lease to run out (the longest action timeout, at least 30 s, plus
// 30 s): that test takes over a minute.
func TestDestinationKill9DuringHeavyDeliveryLosesNothing(t *testing.T) {
	t.Parallel()
	for _, st := range destStores {
		t.Run(st.name, func(t *testing.T) {
			const total, clients, killAt = 1000, 16, 400
			sink := newDestEndpoint(t, false, 0, 0)
			s := startServer(t, destConfig(relayConfig, st.line(t), "@SINK@", sink.URL))
			start := time.Now()
			accepted, sent := destSendThroughKill(t, s, total, clients, killAt)
			t.Logf("%d of %d deliveries answered 2xx in %s from %d clients; killed after %d",
				len(accepted), total, time.Since(start).Round(time.Millisecond), clients, killAt)

			wait := 30 * time.Second
			if st.name == "on PostgreSQL" {
				wait = 100 * time.Second
			}
			var arrived map[string]int
			eventually(t, wait, func() string {
				arrived = map[string]int{}
				calls, _ := sink.seen()
				for _, c := range calls {
					arrived[c.id]++
				}
				missing := 0
				for id := range accepted {
					if arrived[id] == 0 {
						missing++
					}
				}
				if missing > 0 {
					return fmt.Sprintf("%d of %d deliveries answered 2xx never arrived at the endpoint", missing, len(accepted))
				}
				return ""
			})
			t.Logf("every accepted delivery arrived %s after the start", time.Since(start).Round(time.Millisecond))
			calls, _ := sink.seen()
			extra, unanswered := 0, 0
			for id, n := range arrived {
				if !sent[id] {
					t.Errorf("a call arrived for %q, which no client sent", id)
				}
				if _, ok := accepted[id]; !ok {
					unanswered++ // stored, but the kill cut off its answer
				}
				extra += n - 1
			}
			if extra > relayIOWorkers {
				t.Errorf("%d calls arrived twice or more after one kill, want at most %d (io_workers: those the kill may have cut off)", extra, relayIOWorkers)
			}
			for _, c := range calls {
				if d, ok := accepted[c.id]; ok && c.delivery != d {
					t.Errorf("the call for %q came from delivery %s, but the client was answered %s", c.id, c.delivery, d)
					break
				}
			}
			eventually(t, wait, func() string {
				if n := len(s.deliveries("--state", "pending", "--limit", "100000")); n > 0 {
					return fmt.Sprintf("%d deliveries still pending", n)
				}
				return ""
			})
			state := map[string]string{}
			for _, d := range s.deliveries("--limit", "100000") {
				state[d.ID] = d.State
			}
			notDone := 0
			for id, d := range accepted {
				if state[d] != "done" {
					if notDone++; notDone <= 10 {
						t.Errorf("delivery %s (%s), answered 2xx, is %q, want done", d, id, state[d])
					}
				}
			}
			t.Logf("%d calls for %d deliveries answered 2xx; %d more arrived whose answer the kill cut off; %d arrived more than once",
				len(calls), len(accepted), unanswered, extra)
		})
	}
}

// destSendThroughKill posts total deliveries to the relay hook, the body
// {"id": "d<n>"}, from clients concurrent clients; once killAt were
// answered 2xx it kills the server with SIGKILL and restarts it, and the
// clients go on with the ones left. A request that fails is not sent
// again. It returns the Postbox-Delivery of each id answered 2xx, and
// every id sent.
func destSendThroughKill(t *testing.T, s *server, total, clients, killAt int) (accepted map[string]string, sent map[string]bool) {
	t.Helper()
	var (
		mu        sync.Mutex
		url       = s.url // the server's address: a new one after the restart
		failed    int
		next      = make(chan int)
		killed    = make(chan struct{})
		restarted = make(chan struct{})
		once      sync.Once
		wg        sync.WaitGroup
		proc      = s.cmd.Process
	)
	accepted, sent = map[string]string{}, map[string]bool{}
	for range clients {
		wg.Go(func() {
			client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			for n := range next {
				id := fmt.Sprintf("d%d", n)
				mu.Lock()
				sent[id] = true
				to := url
				mu.Unlock()
				resp, err := client.Post(to+"/hooks/relay", "application/json", strings.NewReader(`{"id":"`+id+`"}`))
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				switch {
				case err == nil && resp.StatusCode/100 == 2:
					accepted[id] = resp.Header.Get("Postbox-Delivery")
					if len(accepted) >= killAt {
						once.Do(func() {
							proc.Kill()
							close(killed)
						})
					}
					mu.Unlock()
					continue
				case err == nil:
					t.Errorf("delivery %s: status %d", id, resp.StatusCode)
				}
				failed++
				mu.Unlock()
				select {
				case <-killed:
					<-restarted // the server is back, at its new address
				default:
					if err != nil {
						t.Errorf("delivery %s failed before the kill: %v", id, err)
					}
				}
			}
		})
	}
	go func() {
		defer close(next)
		for n := range total {
			next <- n
		}
	}()
	select {
	case <-killed:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d deliveries answered 2xx within 30s, want %d before the kill", len(accepted), killAt)
	}
	s.kill()
	s.restart()
	mu.Lock()
	url = s.url
	mu.Unlock()
	close(restarted)
	wg.Wait()
	t.Logf("%d requests failed: those the kill cut off", failed)
	return accepted, sent
}
