package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

// moreTests are the cases for dedup, holds, replay, filters and stats.
var moreTests = []storeCase{
	{"a repeated dedup key within the window is stored as a duplicate without a job", testDedup},
	{"a dedup key is free again after its window", testDedupWindow},
	{"dedup keys are per hook", testDedupPerHook},
	{"of concurrent appends with one dedup key, one is stored and the rest are its duplicates", testConcurrentDedup},
	{"a held job is not claimed until the hold ends", testHold},
	{"a replay runs the actions again as a new series", testReplay},
	{"a delivery with work left cannot be replayed", testReplayBusy},
	{"deliveries filter by body text and time range", testFilters},
	{"hook stats count deliveries per state", testHookStats},
	{"deliveries sharing a key run one after another", testPerKeyOrder},
	{"jobs of skipped hooks are not claimed", testSkipHooks},
	{"finishing a job that moved on is an error", testFinishNotHeld},
	{"a failing write among concurrent ones fails alone", testFailureInBatch},
}

func testFailureInBatch(t *testing.T, s postbox.Store) {
	dups := make([]*postbox.Delivery, 10)
	for i := range dups {
		dups[i] = NewDelivery("h", 1)
		mustAppend(t, s, dups[i])
	}
	errs := make(chan error, 60)
	var fresh []*postbox.Delivery
	for i := 0; i < 50; i++ {
		fresh = append(fresh, NewDelivery("h", 1))
	}
	for i := 0; i < 60; i++ {
		go func() {
			if i < 10 {
				errs <- s.Append(context.Background(), dups[i])
				return
			}
			errs <- s.Append(context.Background(), fresh[i-10])
		}()
	}
	conflicts := 0
	for i := 0; i < 60; i++ {
		switch err := <-errs; postbox.ErrorCode(err) {
		case "":
		case postbox.ECONFLICT:
			conflicts++
		default:
			t.Errorf("Append: %v", err)
		}
	}
	if conflicts != 10 {
		t.Errorf("%d conflicts, want the 10 repeated ids", conflicts)
	}
	for _, d := range fresh {
		if got := state(t, s, d.ID); got.State != postbox.StatePending {
			t.Errorf("delivery %s written beside a failing one is %q, want pending", d.ID, got.State)
		}
	}
}

func testPerKeyOrder(t *testing.T, s postbox.Store) {
	first := NewDelivery("dev", 1)
	first.Key = "lamp-1"
	mustAppend(t, s, first)
	second := NewDelivery("dev", 1)
	second.Key = "lamp-1"
	mustAppend(t, s, second)
	other := NewDelivery("dev", 1)
	other.Key = "lamp-2"
	mustAppend(t, s, other)
	free := NewDelivery("dev", 1)
	mustAppend(t, s, free)
	jobs := claim(t, s, 10)
	got := map[string]bool{}
	for _, j := range jobs {
		got[j.DeliveryID] = true
	}
	if len(jobs) != 3 || !got[first.ID] || !got[other.ID] || !got[free.ID] {
		t.Fatalf("claimed %+v, want the first of key lamp-1, lamp-2 and the keyless one", jobs)
	}
	if again := claim(t, s, 10); len(again) != 0 {
		t.Fatalf("the second lamp-1 delivery was claimed while the first runs: %+v", again)
	}
	for _, j := range jobs {
		if j.DeliveryID == first.ID {
			finish(t, s, j, postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})
		}
	}
	next := claim(t, s, 10)
	if len(next) != 1 || next[0].DeliveryID != second.ID {
		t.Fatalf("after the first finished: claimed %+v, want the second lamp-1 delivery", next)
	}
}

func testSkipHooks(t *testing.T, s postbox.Store) {
	a := NewDelivery("a", 1)
	mustAppend(t, s, a)
	b := NewDelivery("b", 1)
	mustAppend(t, s, b)
	jobs, err := postbox.Claim(context.Background(), s, 10, time.Minute, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].DeliveryID != b.ID {
		t.Fatalf("claimed %+v, want only hook b's job", jobs)
	}
}

func testFinishNotHeld(t *testing.T, s postbox.Store) {
	d := NewDelivery("lamp", 1)
	mustAppend(t, s, d)
	j := claim(t, s, 1)[0]
	finish(t, s, j, postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})
	a := &postbox.Attempt{Kind: "exec", Started: time.Now(), Outcome: postbox.OutcomeOK}
	if err := postbox.Finish(context.Background(), s, j, a, postbox.JobTransition{Next: postbox.StateDone}); err == nil {
		t.Error("a second Finish of the same job succeeded: a worker whose lease ran out would record twice")
	}
}

func testDedup(t *testing.T, s postbox.Store) {
	first := NewDelivery("gh", 1)
	first.DedupKey, first.DedupWindow = "abc", time.Hour
	mustAppend(t, s, first)
	dup := NewDelivery("gh", 1)
	dup.DedupKey, dup.DedupWindow = "abc", time.Hour
	mustAppend(t, s, dup)
	if dup.State != postbox.StateDuplicate || dup.DuplicateOf != first.ID {
		t.Fatalf("second append: state %q duplicate_of %q, want duplicate of %s", dup.State, dup.DuplicateOf, first.ID)
	}
	got := state(t, s, dup.ID)
	if got.State != postbox.StateDuplicate || got.DuplicateOf != first.ID || got.DedupKey != "abc" {
		t.Errorf("stored duplicate: %+v", got)
	}
	jobs := claim(t, s, 10)
	if len(jobs) != 1 || jobs[0].DeliveryID != first.ID {
		t.Errorf("jobs = %+v, want only the first delivery's", jobs)
	}
}

func testDedupWindow(t *testing.T, s postbox.Store) {
	first := NewDelivery("gh", 0)
	first.DedupKey, first.DedupWindow = "k", time.Millisecond
	first.Received = time.Now().Add(-time.Second)
	mustAppend(t, s, first)
	later := NewDelivery("gh", 0)
	later.DedupKey, later.DedupWindow = "k", time.Millisecond
	mustAppend(t, s, later)
	if later.State != postbox.StateDone || later.DuplicateOf != "" {
		t.Errorf("after the window: state %q duplicate_of %q, want a new delivery", later.State, later.DuplicateOf)
	}
}

func testDedupPerHook(t *testing.T, s postbox.Store) {
	a := NewDelivery("a", 0)
	a.DedupKey, a.DedupWindow = "same", time.Hour
	mustAppend(t, s, a)
	b := NewDelivery("b", 0)
	b.DedupKey, b.DedupWindow = "same", time.Hour
	mustAppend(t, s, b)
	if b.State == postbox.StateDuplicate {
		t.Errorf("hook b's delivery was taken as a duplicate of hook a's")
	}
}

func testConcurrentDedup(t *testing.T, s postbox.Store) {
	const n = 64
	ds := make([]*postbox.Delivery, n)
	for i := range ds {
		// Two hooks with the same key, and a third with none.
		ds[i] = NewDelivery([]string{"a", "b", "c"}[i%3], 1)
		if i%3 != 2 {
			ds[i].DedupKey, ds[i].DedupWindow = "same", time.Hour
		}
	}
	errs := make(chan error, n)
	for _, d := range ds {
		go func() { errs <- s.Append(context.Background(), d) }()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatalf("Append: %v", err)
		}
	}
	first := map[string]string{}
	for _, d := range ds {
		if d.DedupKey != "" && d.State == postbox.StatePending {
			if prev, ok := first[d.HookID]; ok {
				t.Errorf("hook %s: %s and %s both stored as new", d.HookID, prev, d.ID)
			}
			first[d.HookID] = d.ID
		}
	}
	if len(first) != 2 {
		t.Fatalf("new deliveries per hook = %v, want one for a and one for b", first)
	}
	jobs := map[string]bool{}
	for _, j := range claim(t, s, 2*n) {
		jobs[j.DeliveryID] = true
	}
	for _, d := range ds {
		got := state(t, s, d.ID)
		want, dupOf := postbox.StatePending, ""
		if d.DedupKey != "" && d.ID != first[d.HookID] {
			want, dupOf = postbox.StateDuplicate, first[d.HookID]
		}
		if d.State != want || d.DuplicateOf != dupOf || got.State != want || got.DuplicateOf != dupOf {
			t.Errorf("%s of hook %s: answered %s (duplicate of %q), stored %s (of %q); want %s (of %q)",
				d.ID, d.HookID, d.State, d.DuplicateOf, got.State, got.DuplicateOf, want, dupOf)
		}
		if jobs[d.ID] != (want == postbox.StatePending) {
			t.Errorf("%s (%s) has a job: %v", d.ID, want, jobs[d.ID])
		}
	}
}

func testHold(t *testing.T, s postbox.Store) {
	d := NewDelivery("sync", 1)
	d.Hold = time.Hour
	mustAppend(t, s, d)
	if jobs := claim(t, s, 10); len(jobs) != 0 {
		t.Fatalf("held job claimed: %+v", jobs)
	}
	// The holder finishes it as if it had claimed it.
	finish(t, s, &postbox.Job{DeliveryID: d.ID, HookID: d.HookID, Lease: d.Lease}, postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})
	if got := state(t, s, d.ID); got.State != postbox.StateDone {
		t.Errorf("state %q, want done", got.State)
	}
	short := NewDelivery("sync", 1)
	short.Hold = time.Millisecond
	mustAppend(t, s, short)
	deadline := time.Now().Add(5 * time.Second)
	for len(claim(t, s, 10)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("an expired hold was never claimed: a crashed sync request would lose its actions")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testReplay(t *testing.T, s postbox.Store) {
	d := NewDelivery("lamp", 2)
	mustAppend(t, s, d)
	finish(t, s, claim(t, s, 1)[0], postbox.OutcomeFailed, postbox.JobTransition{Next: postbox.StateDead})
	if err := s.Replay(context.Background(), d.ID); err != nil {
		t.Fatal(err)
	}
	if got := state(t, s, d.ID); got.State != postbox.StatePending || got.Series != 1 {
		t.Fatalf("after replay: state %q series %d", got.State, got.Series)
	}
	for i := 0; i < 2; i++ {
		jobs := claim(t, s, 10)
		if len(jobs) != 1 || jobs[0].Series != 1 || jobs[0].Action != i || jobs[0].Attempt != 0 {
			t.Fatalf("replay step %d: claimed %+v", i, jobs)
		}
		finish(t, s, jobs[0], postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})
	}
	got := state(t, s, d.ID)
	if got.State != postbox.StateDone || len(got.Attempts) != 3 {
		t.Fatalf("state %q with %d attempts, want done with 3", got.State, len(got.Attempts))
	}
	if a := got.Attempts[0]; a.Series != 0 || a.Outcome != postbox.OutcomeFailed {
		t.Errorf("the original attempt changed: %+v", a)
	}
	if a := got.Attempts[1]; a.Series != 1 || a.N != 1 || a.Action != 0 {
		t.Errorf("replayed attempt: %+v", a)
	}
	if err := s.Replay(context.Background(), "nope"); postbox.ErrorCode(err) != postbox.ENOTFOUND {
		t.Errorf("replay of an unknown id: %v", err)
	}
}

func testReplayBusy(t *testing.T, s postbox.Store) {
	d := NewDelivery("lamp", 1)
	mustAppend(t, s, d)
	if err := s.Replay(context.Background(), d.ID); postbox.ErrorCode(err) != postbox.ECONFLICT {
		t.Errorf("replay of a pending delivery: %v, want %s", err, postbox.ECONFLICT)
	}
}

func testFilters(t *testing.T, s postbox.Store) {
	old := NewDelivery("a", 0)
	old.Received = time.Now().Add(-2 * time.Hour).UTC()
	old.Body = []byte(`{"repo":"postbox"}`)
	mustAppend(t, s, old)
	now := NewDelivery("a", 0)
	now.Body = []byte(`{"repo":"other"}`)
	mustAppend(t, s, now)
	found, err := s.Deliveries(context.Background(), postbox.DeliveryFilter{Search: `"postbox"`})
	if err != nil || len(found) != 1 || found[0].ID != old.ID {
		t.Errorf("search: %v %v", ids4(found), err)
	}
	recent, _ := s.Deliveries(context.Background(), postbox.DeliveryFilter{Since: time.Now().Add(-time.Hour)})
	if len(recent) != 1 || recent[0].ID != now.ID {
		t.Errorf("since: %v", ids4(recent))
	}
	older, _ := s.Deliveries(context.Background(), postbox.DeliveryFilter{Until: time.Now().Add(-time.Hour)})
	if len(older) != 1 || older[0].ID != old.ID {
		t.Errorf("until: %v", ids4(older))
	}
}

func testHookStats(t *testing.T, s postbox.Store) {
	mustAppend(t, s, NewDelivery("a", 0))
	mustAppend(t, s, NewDelivery("a", 1))
	mustAppend(t, s, NewDelivery("b", 0))
	stats, err := s.HookStats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 2 || stats[0].Hook != "a" || stats[0].Total != 2 || stats[0].States[postbox.StateDone] != 1 ||
		stats[0].States[postbox.StatePending] != 1 || stats[1].Hook != "b" || stats[1].Total != 1 || stats[1].Last.IsZero() {
		t.Errorf("stats = %+v", stats)
	}
}
