package queue_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/action/httpcall"
	"github.com/postbox/postbox/queue"
	"github.com/postbox/postbox/sqlite"
)

// forward is an http action that posts to url.
func forward(t *testing.T, url string, timeout time.Duration) postbox.Action {
	t.Helper()
	a, err := httpcall.New(httpcall.Config{URL: url, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// endpoint is a real HTTP server on loopback that answers with answer and
// counts the calls it got.
type endpoint struct {
	*httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	times []time.Time
}

func newEndpoint(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *endpoint {
	t.Helper()
	e := &endpoint{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		e.mu.Lock()
		e.times = append(e.times, time.Now())
		e.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(e.Close)
	return e
}

func serveQueue(t *testing.T, o queue.Options) *queue.Queue {
	t.Helper()
	if o.Workers == 0 {
		o.Workers = 2
	}
	o.Poll = 5 * time.Millisecond
	q := queue.New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return q
}

func destination(t *testing.T, q *queue.Queue, name string) queue.DestinationStatus {
	t.Helper()
	for _, d := range q.Destinations() {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no destination %q in %+v", name, q.Destinations())
	return queue.DestinationStatus{}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 10s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// failingUntilHealed is an endpoint that answers status until healthy is
// set, and a hook "h" that forwards to it with attempts quick retries.
func failingUntilHealed(t *testing.T, status, attempts int) (*endpoint, *atomic.Bool, *postbox.Hook) {
	t.Helper()
	healthy := &atomic.Bool{}
	e := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(status)
		}
	})
	h := &postbox.Hook{ID: "h", Actions: []postbox.Action{forward(t, e.URL+"/x", 5*time.Second)},
		Retry: postbox.RetryPolicy{Attempts: attempts, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}}
	return e, healthy, h
}

func destName(e *endpoint) string { return "http://" + e.Listener.Addr().String() }

func TestAHangingDestinationDoesNotDelayAnotherHook(t *testing.T) {
	db := openStore(t)
	release := make(chan struct{})
	hang := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	fast := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {})
	slowHook := &postbox.Hook{ID: "slow", Actions: []postbox.Action{forward(t, hang.URL+"/slow", 30*time.Second)}}
	fastHook := &postbox.Hook{ID: "fast", Actions: []postbox.Action{forward(t, fast.URL+"/fast", 30*time.Second)}}
	// Two command workers, as on a 2-core machine: the calls must not
	// need them.
	q := serveQueue(t, queue.Options{Store: db, Hooks: []*postbox.Hook{slowHook, fastHook}, Workers: 2})
	for range 8 {
		appendFor(t, db, q, slowHook)
	}
	eventually(t, "the hanging endpoint holds 8 calls", func() bool { return hang.calls.Load() == 8 })
	var ids []string
	for range 20 {
		ids = append(ids, appendFor(t, db, q, fastHook).ID)
	}
	for _, id := range ids {
		waitState(t, db, id, postbox.StateDone)
	}
	if got := destination(t, q, destName(hang)).InFlight; got != 8 {
		t.Errorf("hanging destination has %d calls in flight, want 8", got)
	}
}

func TestABreakerOpensProbesAndCloses(t *testing.T) {
	db := openStore(t)
	e, healthy, h := failingUntilHealed(t, http.StatusBadGateway, 100)
	name := destName(e)
	q := serveQueue(t, queue.Options{Store: db, Hooks: []*postbox.Hook{h},
		Destinations: map[string]queue.Policy{name: {Failures: 3, Cooldown: 300 * time.Millisecond, MaxCooldown: 300 * time.Millisecond}}})
	d := appendFor(t, db, q, h)
	eventually(t, "the breaker opens", func() bool { return destination(t, q, name).State == queue.Open })
	if n := e.calls.Load(); n != 3 {
		t.Errorf("%d calls before the breaker opened, want 3 (failures: 3)", n)
	}
	// While open, the job waits in the store: no call for the cooldown.
	time.Sleep(150 * time.Millisecond)
	if n := e.calls.Load(); n != 3 {
		t.Errorf("%d calls while the breaker was open, want still 3", n)
	}
	// The probe after the cooldown fails: open again, one more call.
	eventually(t, "one probe is made", func() bool { return e.calls.Load() == 4 })
	eventually(t, "the failed probe opens it again", func() bool { return destination(t, q, name).State == queue.Open })
	healthy.Store(true)
	got := waitState(t, db, d.ID, postbox.StateDone)
	if st := destination(t, q, name); st.State != queue.Closed || st.Opened != 2 || st.Failures != 0 {
		t.Errorf("after a good probe: %+v, want closed, opened twice, no failures", st)
	}
	if len(got.Attempts) != 5 {
		t.Errorf("%d attempts, want 5 (3 failures, a failed probe, a good one)", len(got.Attempts))
	}
}

func TestAnOperatorResumesAnOpenDestination(t *testing.T) {
	db := openStore(t)
	e, healthy, h := failingUntilHealed(t, http.StatusServiceUnavailable, 10)
	name := destName(e)
	q := serveQueue(t, queue.Options{Store: db, Hooks: []*postbox.Hook{h},
		Destinations: map[string]queue.Policy{"*": {Failures: 2, Cooldown: time.Hour}}})
	d := appendFor(t, db, q, h)
	eventually(t, "the breaker opens", func() bool { return destination(t, q, name).State == queue.Open })
	healthy.Store(true)
	if err := q.Resume("http://nowhere:1"); err == nil {
		t.Error("resuming an unknown destination succeeded")
	}
	if err := q.Resume(name); err != nil {
		t.Fatal(err)
	}
	waitState(t, db, d.ID, postbox.StateDone)
}

func TestTooManyRequestsPausesTheDestinationNotTheQueue(t *testing.T) {
	db := openStore(t)
	var first atomic.Bool
	busy := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		if !first.Swap(true) {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
		}
	})
	other := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {})
	slow := &postbox.Hook{ID: "busy", Actions: []postbox.Action{forward(t, busy.URL+"/x", 5*time.Second)},
		Retry: postbox.RetryPolicy{Attempts: 5, Backoff: time.Millisecond, MaxBackoff: 2 * time.Millisecond}}
	fine := &postbox.Hook{ID: "other", Actions: []postbox.Action{forward(t, other.URL+"/x", 5*time.Second)}}
	q := serveQueue(t, queue.Options{Store: db, Hooks: []*postbox.Hook{slow, fine}})
	start := time.Now()
	a := appendFor(t, db, q, slow)
	eventually(t, "the destination is paused", func() bool { return destination(t, q, destName(busy)).State == queue.Paused })
	b := appendFor(t, db, q, slow)
	o := appendFor(t, db, q, fine)
	waitState(t, db, o.ID, postbox.StateDone)
	if busy.calls.Load() != 1 {
		t.Errorf("%d calls to the paused destination, want 1", busy.calls.Load())
	}
	waitState(t, db, a.ID, postbox.StateDone)
	waitState(t, db, b.ID, postbox.StateDone)
	if d := time.Since(start); d < time.Second {
		t.Errorf("the paused destination got its retry after %v, want after Retry-After (1s)", d)
	}
	if st := destination(t, q, destName(busy)); st.Opened != 0 {
		t.Errorf("a 429 opened the breaker: %+v", st)
	}
}

func TestARateLimitPacesTheCalls(t *testing.T) {
	db := openStore(t)
	e := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {})
	h := &postbox.Hook{ID: "h", Actions: []postbox.Action{forward(t, e.URL+"/x", 5*time.Second)}}
	const rate, n = 40.0, 41
	q := serveQueue(t, queue.Options{Store: db, Hooks: []*postbox.Hook{h},
		Destinations: map[string]queue.Policy{destName(e): {Rate: rate, Burst: 1}}})
	var ids []string
	for range n {
		ids = append(ids, appendFor(t, db, q, h).ID)
	}
	for _, id := range ids {
		waitState(t, db, id, postbox.StateDone)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	span := e.times[len(e.times)-1].Sub(e.times[0])
	got := float64(len(e.times)-1) / span.Seconds()
	// Never faster than the rate (a limiter can only be late, so this
	// holds on a loaded machine too); not stalled either, with a bound
	// loose enough for -race on two busy cores.
	if got > rate*1.1 {
		t.Errorf("%d calls in %v: %.1f/s, faster than the rate of %.0f/s", len(e.times), span, got, rate)
	}
	if got < rate/4 {
		t.Errorf("%d calls in %v: %.1f/s, want about %.0f/s: the pacing stalls", len(e.times), span, got, rate)
	}
}

func TestCommandsAndCallsHaveTheirOwnPools(t *testing.T) {
	db := openStore(t)
	e := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {})
	busy := &postbox.Hook{ID: "cmd", Actions: []postbox.Action{shell(t, "sleep 5", 10*time.Second)}}
	call := &postbox.Hook{ID: "call", Actions: []postbox.Action{forward(t, e.URL+"/x", 5*time.Second)}}
	q := serveQueue(t, queue.Options{Store: db, Hooks: []*postbox.Hook{busy, call}, Workers: 1, Grace: time.Millisecond})
	appendFor(t, db, q, busy)
	appendFor(t, db, q, busy)
	eventually(t, "the command runs", func() bool { return destination(t, q, "exec:sh").InFlight == 1 })
	d := appendFor(t, db, q, call)
	waitState(t, db, d.ID, postbox.StateDone)
	if st := destination(t, q, "exec:sh"); st.InFlight != 1 || st.Kind != "cpu" {
		t.Errorf("command destination %+v, want one in flight in the cpu pool", st)
	}
}

func TestAnOpenDestinationsJobsAreDeferredInTheStore(t *testing.T) {
	db := openStore(t)
	e, healthy, h := failingUntilHealed(t, http.StatusServiceUnavailable, 10)
	name := destName(e)
	q := serveQueue(t, queue.Options{Store: db, Hooks: []*postbox.Hook{h},
		Destinations: map[string]queue.Policy{"*": {Failures: 2, Cooldown: time.Hour}}})
	first := appendFor(t, db, q, h)
	eventually(t, "the breaker opens", func() bool { return destination(t, q, name).State == queue.Open })
	var ids []string
	for range 5 {
		ids = append(ids, appendFor(t, db, q, h).ID)
	}
	// Claims would otherwise step over every waiting job at each turn.
	eventually(t, "the open destination's 6 jobs are no longer due in the store", func() bool {
		b, err := db.Backlog(context.Background())
		return err == nil && b.Jobs == 6 && b.Due == 0
	})
	healthy.Store(true)
	if err := q.Resume(name); err != nil {
		t.Fatal(err)
	}
	for _, id := range append(ids, first.ID) {
		waitState(t, db, id, postbox.StateDone)
	}
}

// takeOverRunning runs a queue on db with leases of 50 ms renewed every
// renew, appends a delivery for h (of concurrency 1, so that the queue
// claims nothing else meanwhile) and, once its command runs, takes its job
// over as another instance would once the lease ran out.
func takeOverRunning(t *testing.T, db *sqlite.DB, h *postbox.Hook, renew time.Duration) (*queue.Queue, *postbox.Delivery, []*postbox.Job) {
	t.Helper()
	q := queue.New(queue.Options{Store: db, Hooks: []*postbox.Hook{h}, Poll: 5 * time.Millisecond,
		Lease: 50 * time.Millisecond, RenewEvery: renew})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	d := appendFor(t, db, q, h)
	eventually(t, "the command runs", func() bool { return destination(t, q, "exec:sh").InFlight == 1 })
	var jobs []*postbox.Job
	eventually(t, "another holder takes the job over", func() bool {
		var err error
		jobs, err = postbox.Claim(context.Background(), db, 1, time.Hour)
		return err == nil && len(jobs) == 1
	})
	return q, d, jobs
}

func TestAJobWhoseLeaseIsTakenOverIsStoppedAndNotRecorded(t *testing.T) {
	db := openStore(t)
	// Concurrency 1: while its one job runs, the queue claims no other of
	// the hook, so that the test takes the job over, not the queue again.
	h := &postbox.Hook{ID: "h", Concurrency: 1, Actions: []postbox.Action{shell(t, "echo started; sleep 30", 40*time.Second)}}
	// Leases that run out between renewals, as when this process stalls
	// past its lease: another holder can take the job over.
	q, d, jobs := takeOverRunning(t, db, h, 500*time.Millisecond)
	start := time.Now()
	eventually(t, "the queue stops the action it no longer holds", func() bool { return destination(t, q, "exec:sh").InFlight == 0 })
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("the action ran %v after its lease was lost", waited)
	}
	// Its result was not recorded: the new holder's attempt is the first.
	got, err := db.Delivery(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Attempts) != 1 || got.Attempts[0].Outcome != postbox.OutcomeInterrupted {
		t.Errorf("attempts %+v; want only the takeover's interrupted one, none by the holder that lost the lease", got.Attempts)
	}
	if f := q.Fenced(); f.Renewals != 1 {
		t.Errorf("fenced %+v, want one renewal refused", f)
	}
	a := &postbox.Attempt{DeliveryID: d.ID, Action: 0, N: 2, Kind: "exec", Started: time.Now(), Outcome: postbox.OutcomeOK}
	if err := postbox.Finish(context.Background(), db, jobs[0], a, postbox.JobTransition{Next: postbox.StateDone}); err != nil {
		t.Errorf("the new holder's attempt: %v", err)
	}
}

func TestALateResultOfAJobTakenOverIsRefusedAndCounted(t *testing.T) {
	db := openStore(t)
	gate := filepath.Join(t.TempDir(), "gate")
	h := &postbox.Hook{ID: "h", Concurrency: 1, Actions: []postbox.Action{
		shell(t, "while [ ! -e "+gate+" ]; do sleep 0.01; done; echo finished late", 40*time.Second)}}
	// No renewal before the result: the queue learns of the takeover
	// only when the store refuses its attempt.
	q, d, jobs := takeOverRunning(t, db, h, time.Hour)
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the late result is refused", func() bool { return q.Fenced().Results == 1 })
	got, err := db.Delivery(context.Background(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != postbox.StatePending || len(got.Attempts) != 1 || got.Attempts[0].Outcome != postbox.OutcomeInterrupted {
		t.Errorf("after a late result: state %q attempts %+v; want pending with only the interrupted attempt", got.State, got.Attempts)
	}
	a := &postbox.Attempt{DeliveryID: d.ID, Action: 0, N: 2, Kind: "exec", Started: time.Now(), Outcome: postbox.OutcomeOK}
	if err := postbox.Finish(context.Background(), db, jobs[0], a, postbox.JobTransition{Next: postbox.StateDone}); err != nil {
		t.Errorf("the new holder's attempt: %v", err)
	}
}

func TestLateSuccessesDoNotCloseAnOpenBreaker(t *testing.T) {
	db := openStore(t)
	release := make(chan struct{})
	e := newEndpoint(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		<-release // /slow answers 200 once the breaker opened
	})
	slow := &postbox.Hook{ID: "slow", Actions: []postbox.Action{forward(t, e.URL+"/slow", 10*time.Second)}}
	fail := &postbox.Hook{ID: "fail", Actions: []postbox.Action{forward(t, e.URL+"/fail", 10*time.Second)}}
	name := destName(e)
	q := serveQueue(t, queue.Options{Store: db, Hooks: []*postbox.Hook{slow, fail},
		Destinations: map[string]queue.Policy{"*": {Failures: 2, Cooldown: time.Hour}}})
	appendFor(t, db, q, slow)
	eventually(t, "the slow call is in flight", func() bool { return destination(t, q, name).InFlight == 1 })
	appendFor(t, db, q, fail)
	appendFor(t, db, q, fail)
	eventually(t, "the breaker opens", func() bool { return destination(t, q, name).State == queue.Open })
	close(release)
	eventually(t, "the slow call ends", func() bool { return destination(t, q, name).InFlight == 0 })
	if st := destination(t, q, name); st.State != queue.Open || st.OK != 1 {
		t.Errorf("after a call begun before the breaker opened succeeded: %+v, want still open (one ok counted)", st)
	}
}
