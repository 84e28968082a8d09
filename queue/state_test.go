package queue_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/queue"
	"github.com/postbox/postbox/sqlite"
	"github.com/postbox/postbox/storetest"
)

// A delivery's end state says one thing: failed when a retry could not
// help (a permanent failure), dead when the attempts the hook allows were
// used up by failures a retry might mend, whatever their number.
func TestTheEndStateSaysWhetherARetryCouldHelp(t *testing.T) {
	tests := []struct {
		name     string
		status   int
		attempts int
		want     postbox.State
		calls    int64
	}{
		{"a 503 with the default single attempt is dead", 503, 0, postbox.StateDead, 1},
		{"a 503 on the last of three attempts is dead", 503, 3, postbox.StateDead, 3},
		{"a 400 is failed at once with no attempts left", 400, 0, postbox.StateFailed, 1},
		{"a 400 is failed at once whatever attempts allows", 400, 3, postbox.StateFailed, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEndpoint(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(tt.status) })
			db := openStore(t)
			h := &postbox.Hook{ID: "h", Actions: []postbox.Action{forward(t, e.URL, time.Second)},
				Retry: postbox.RetryPolicy{Attempts: tt.attempts, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}}
			q := serveQueue(t, queue.Options{Store: db, Hooks: []*postbox.Hook{h},
				Destinations: map[string]queue.Policy{"*": {Failures: -1}}})
			d := waitState(t, db, appendFor(t, db, q, h).ID, tt.want)
			if len(d.Attempts) != int(tt.calls) || e.calls.Load() != tt.calls {
				t.Errorf("%d attempts, %d calls; want %d", len(d.Attempts), e.calls.Load(), tt.calls)
			}
		})
	}
}

// failingAdvance is a store whose Advance fails whenever the queue's own
// step (which always carries its Lease, to claim with) records attempts: a
// fault (the claim's query refused) that cannot be caused on a real file
// without failing every other write too. Recording one attempt alone, as
// postbox.Finish does, works.
type failingAdvance struct {
	*sqlite.DB
	failed atomic.Int64
}

func (s *failingAdvance) Advance(ctx context.Context, step postbox.Step) ([]*postbox.Job, []error, error) {
	if len(step.Done) > 0 && step.Lease > 0 {
		s.failed.Add(1)
		return nil, nil, errors.New("disk I/O error")
	}
	return s.DB.Advance(ctx, step)
}

// When recording a batch of attempts fails, each is recorded on its own:
// the deliveries still end, with one attempt each, not re-run.
func TestAttemptsAreRecordedOneByOneWhenTheBatchFails(t *testing.T) {
	db := &failingAdvance{DB: openStore(t)}
	h := &postbox.Hook{ID: "h", Actions: []postbox.Action{shell(t, "true", time.Second)}}
	q := serveQueue(t, queue.Options{Store: db, Hooks: []*postbox.Hook{h}})
	var ids []string
	for range 3 {
		d := storetest.NewDelivery(h.ID, 1)
		if err := db.Append(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, d.ID)
	}
	q.Notify()
	for _, id := range ids {
		d := waitState(t, db.DB, id, postbox.StateDone)
		if len(d.Attempts) != 1 {
			t.Errorf("delivery %s: %d attempts, want 1", id, len(d.Attempts))
		}
	}
	if db.failed.Load() == 0 {
		t.Fatal("Advance never failed: the test did not test the fallback")
	}
}

// releaseSpy is the real store, noting the jobs handed back.
type releaseSpy struct {
	*sqlite.DB
	mu       sync.Mutex
	released []string
}

func (s *releaseSpy) Advance(ctx context.Context, step postbox.Step) ([]*postbox.Job, []error, error) {
	s.mu.Lock()
	for _, j := range step.Release {
		s.released = append(s.released, j.DeliveryID)
	}
	s.mu.Unlock()
	return s.DB.Advance(ctx, step)
}

// napping is an action that takes d of the bubble's fake time.
type napping struct{ d time.Duration }

func (n napping) Kind() string           { return "nap" }
func (n napping) Timeout() time.Duration { return n.d + time.Second }
func (n napping) Run(ctx context.Context, _ *postbox.TemplateData) postbox.Result {
	select {
	case <-time.After(n.d):
		return postbox.Result{Outcome: postbox.OutcomeOK}
	case <-ctx.Done():
		return postbox.Result{Outcome: postbox.OutcomeTimeout}
	}
}

// A job claimed ahead of a free worker must start soon after its claim, or
// its action could outlast its lease and another instance run it too: one
// that waited longer is handed back to the store (and claimed afresh).
func TestAJobClaimedAheadPastItsDeadlineIsHandedBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sdb, err := sqlite.Open(context.Background(), t.TempDir()+"/postbox.db")
		if err != nil {
			t.Fatal(err)
		}
		defer sdb.Close()
		db := &releaseSpy{DB: sdb}
		// One worker; the first job naps past the 20 s a job claimed
		// ahead may wait.
		h := &postbox.Hook{ID: "h", Actions: []postbox.Action{napping{25 * time.Second}}}
		first, second := storetest.NewDelivery(h.ID, 1), storetest.NewDelivery(h.ID, 1)
		for _, d := range []*postbox.Delivery{first, second} {
			if err := db.Append(context.Background(), d); err != nil {
				t.Fatal(err)
			}
		}
		q := queue.New(queue.Options{Store: db, Hooks: []*postbox.Hook{h}, Workers: 1, Poll: time.Second})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { q.Run(ctx); close(done) }()
		for _, d := range []*postbox.Delivery{first, second} {
			for {
				got, err := db.Delivery(context.Background(), d.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.State == postbox.StateDone {
					break
				}
				time.Sleep(time.Second)
			}
		}
		cancel()
		<-done
		db.mu.Lock()
		defer db.mu.Unlock()
		if len(db.released) == 0 {
			t.Fatal("no job was handed back, though one waited 25 s behind the only worker")
		}
	})
}
