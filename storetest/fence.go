package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

// fenceTests are the cases for fencing: every write on a job presents the
// claim's token, and a stale one is refused.
var fenceTests = []storeCase{
	{"an expired lease is taken over with an interrupted attempt, and the stale token is refused for every write", testFenceTakeover},
	{"a token from before a hand-back is refused once the job is claimed again", testFenceReclaimed},
	{"a sync hook's held jobs carry tokens from Append and from Finish with a Hold", testFenceHold},
}

// takeOver claims d's job with a lease of a millisecond and then again,
// once that lease ran out, as another instance would: it returns the stale
// claim and the current one.
func takeOver(t *testing.T, s postbox.Store, d *postbox.Delivery) (stale, current *postbox.Job) {
	t.Helper()
	ctx := context.Background()
	jobs, err := postbox.Claim(ctx, s, 1, time.Millisecond)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("Claim: %v %v", jobs, err)
	}
	stale = jobs[0]
	deadline := time.Now().Add(10 * time.Second)
	for {
		jobs, err := postbox.Claim(ctx, s, 1, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 1 {
			return stale, jobs[0]
		}
		if time.Now().After(deadline) {
			t.Fatal("an expired lease was never taken over")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// refusedEverywhere checks that every write with stale is refused and
// leaves current's job as it was.
func refusedEverywhere(t *testing.T, s postbox.Store, stale, current *postbox.Job) {
	t.Helper()
	ctx := context.Background()
	ok := postbox.JobTransition{Next: postbox.StateDone}
	a := &postbox.Attempt{Kind: "exec", Started: time.Now(), Outcome: postbox.OutcomeOK}
	if err := postbox.Finish(ctx, s, stale, a, ok); !errors.Is(err, postbox.ErrFenced) {
		t.Errorf("Finish with a stale token: %v, want ErrFenced", err)
	}
	_, failed, err := s.Advance(ctx, postbox.Step{Done: []postbox.Done{done(stale, postbox.OutcomeOK, ok)}})
	if err != nil || len(failed) != 1 || !errors.Is(failed[0], postbox.ErrFenced) {
		t.Errorf("Advance with a stale token: %v %v, want it failed with ErrFenced", failed, err)
	}
	if err := postbox.Release(ctx, s, stale); err != nil {
		t.Errorf("Release with a stale token: %v", err)
	}
	if r, ok := s.(postbox.Renewer); ok {
		leases, err := r.Renew(ctx, []*postbox.Job{stale}, time.Hour)
		if err != nil || len(leases) != 1 || leases[0] != 0 {
			t.Errorf("Renew with a stale token: %v %v, want it lost (0)", leases, err)
		}
	}
	// The stale writes changed nothing: the job is still the current
	// holder's (not handed back, not claimable) and has no attempt of theirs.
	if got := claim(t, s, 10); len(got) != 0 {
		t.Errorf("claimed %+v: a stale Release handed the job back from under its holder", got)
	}
	if r, ok := s.(postbox.Renewer); ok {
		leases, err := r.Renew(ctx, []*postbox.Job{current}, time.Hour)
		if err != nil || leases[0] == 0 {
			t.Fatalf("the current holder's renewal: %v %v", leases, err)
		}
		current.Lease = leases[0]
	}
	if d := state(t, s, current.DeliveryID); d.State != postbox.StatePending {
		t.Errorf("after stale writes the delivery is %q, want pending", d.State)
	}
}

func testFenceTakeover(t *testing.T, s postbox.Store) {
	d := NewDelivery("lamp", 1)
	mustAppend(t, s, d)
	stale, current := takeOver(t, s, d)
	if current.Attempt != stale.Attempt+1 || current.Lease == stale.Lease {
		t.Fatalf("took over %+v from %+v: want the next attempt and another token", current, stale)
	}
	got := state(t, s, d.ID)
	if len(got.Attempts) != 1 || got.Attempts[0].Outcome != postbox.OutcomeInterrupted || got.Attempts[0].N != 1 {
		t.Fatalf("attempts after a takeover: %+v, want one interrupted attempt, n 1", got.Attempts)
	}
	refusedEverywhere(t, s, stale, current)
	finish(t, s, current, postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})
	got = state(t, s, d.ID)
	if got.State != postbox.StateDone || len(got.Attempts) != 2 || got.Attempts[1].N != 2 || got.Attempts[1].Outcome != postbox.OutcomeOK {
		t.Errorf("after the new holder finished: state %q attempts %+v", got.State, got.Attempts)
	}
}

func testFenceReclaimed(t *testing.T, s postbox.Store) {
	d := NewDelivery("lamp", 1)
	mustAppend(t, s, d)
	stale := claim(t, s, 1)[0]
	kept := *stale
	if err := postbox.Release(context.Background(), s, stale); err != nil {
		t.Fatal(err)
	}
	current := claim(t, s, 1)[0]
	if current.Attempt != kept.Attempt || current.Lease == kept.Lease {
		t.Fatalf("claimed again %+v after %+v: want the same attempt (a hand-back is no attempt) and another token", current, kept)
	}
	if got := state(t, s, d.ID); len(got.Attempts) != 0 {
		t.Errorf("a handed-back job was recorded as interrupted: %+v", got.Attempts)
	}
	// Only the token tells the two claims apart now.
	refusedEverywhere(t, s, &kept, current)
	finish(t, s, current, postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})
}

func testFenceHold(t *testing.T, s postbox.Store) {
	d := NewDelivery("sync", 2)
	d.Hold = time.Hour
	mustAppend(t, s, d)
	if d.Lease == 0 {
		t.Fatal("Append with a Hold set no lease token")
	}
	job := &postbox.Job{DeliveryID: d.ID, HookID: d.HookID, Lease: d.Lease}
	first := job.Lease
	finish(t, s, job, postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone, Hold: time.Hour})
	if job.Lease == 0 || job.Lease == first {
		t.Fatalf("Finish with a Hold left the token %d (was %d), want the next action's", job.Lease, first)
	}
	job.Action = 1
	refusedEverywhere(t, s, &postbox.Job{DeliveryID: d.ID, HookID: d.HookID, Action: 1, Lease: first}, job)
	finish(t, s, job, postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})
	if got := state(t, s, d.ID); got.State != postbox.StateDone {
		t.Errorf("state %q, want done", got.State)
	}
}
