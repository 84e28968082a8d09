package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

// advanceTests are the cases for Advance: a queue's finishes, hand-backs
// and claims in one write.
var advanceTests = []storeCase{
	{"one advance finishes, hands back and claims, and its claim sees the rest", testAdvance},
	{"a job that moved on fails alone in an advance", testAdvanceNotHeld},
	{"an advance claims nothing when nothing is due", testAdvanceNothingDue},
	{"an advance claims no job of a skipped hook nor a held key", testAdvanceSkip},
	{"a failed attempt recorded by an advance is retried when due", testAdvanceRetry},
	{"an advance claims no job of a skipped action, and the hook's other actions still", testAdvanceSkipActions},
	{"a deferred action's jobs are due at its time, or at once when undeferred; claimed ones stay", testAdvanceDefer},
}

func advance(t *testing.T, s postbox.Store, step postbox.Step) ([]*postbox.Job, []error) {
	t.Helper()
	if step.Lease == 0 {
		step.Lease = time.Minute
	}
	jobs, failed, err := s.Advance(context.Background(), step)
	if err != nil {
		t.Fatalf("Advance: %v", err)
	}
	if len(failed) != len(step.Done) {
		t.Fatalf("Advance returned %d errors for %d finished jobs", len(failed), len(step.Done))
	}
	return jobs, failed
}

func done(j *postbox.Job, o postbox.Outcome, next postbox.JobTransition) postbox.Done {
	return postbox.Done{Job: j, Next: next,
		Attempt: &postbox.Attempt{Kind: "exec", Started: time.Now(), Duration: time.Millisecond, Outcome: o, Output: "out " + string(o)}}
}

func byDelivery(jobs []*postbox.Job) map[string]*postbox.Job {
	m := map[string]*postbox.Job{}
	for _, j := range jobs {
		m[j.DeliveryID] = j
	}
	return m
}

func testAdvance(t *testing.T, s postbox.Store) {
	two := NewDelivery("lamp", 2) // its second action becomes due in the advance
	one := NewDelivery("lamp", 1) // ends done
	back := NewDelivery("lamp", 1)
	for _, d := range []*postbox.Delivery{two, one, back} {
		mustAppend(t, s, d)
	}
	held := byDelivery(claim(t, s, 10))
	if len(held) != 3 {
		t.Fatalf("claimed %d jobs, want 3", len(held))
	}
	fresh := NewDelivery("lamp", 1)
	mustAppend(t, s, fresh)
	jobs, failed := advance(t, s, postbox.Step{
		Done: []postbox.Done{
			done(held[two.ID], postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone}),
			done(held[one.ID], postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone}),
		},
		Release: []*postbox.Job{held[back.ID]},
		Claim:   10,
	})
	if failed[0] != nil || failed[1] != nil {
		t.Fatalf("finishing held jobs failed: %v", failed)
	}
	got := byDelivery(jobs)
	if len(jobs) != 3 || got[two.ID] == nil || got[two.ID].Action != 1 || got[back.ID] == nil || got[fresh.ID] == nil {
		t.Fatalf("claimed %+v, want the second action of %s, the handed-back %s and the new %s", jobs, two.ID, back.ID, fresh.ID)
	}
	if d := state(t, s, one.ID); d.State != postbox.StateDone || len(d.Attempts) != 1 || d.Attempts[0].Output != "out ok" {
		t.Errorf("finished delivery: state %q attempts %+v", d.State, d.Attempts)
	}
	if d := state(t, s, back.ID); len(d.Attempts) != 0 || got[back.ID].Attempt != 0 {
		t.Errorf("a handed-back job was recorded as attempted: %+v", d.Attempts)
	}
	if again := claim(t, s, 10); len(again) != 0 {
		t.Errorf("jobs claimed by an advance were claimed again: %+v", again)
	}
}

func testAdvanceNotHeld(t *testing.T, s postbox.Store) {
	a := NewDelivery("lamp", 1)
	b := NewDelivery("lamp", 1)
	mustAppend(t, s, a)
	mustAppend(t, s, b)
	held := byDelivery(claim(t, s, 10))
	finish(t, s, held[a.ID], postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})
	_, failed := advance(t, s, postbox.Step{Done: []postbox.Done{
		done(held[a.ID], postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone}),
		done(held[b.ID], postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone}),
	}})
	if failed[0] == nil {
		t.Error("finishing a job twice succeeded: a worker whose lease ran out would record twice")
	}
	if failed[1] != nil {
		t.Errorf("the held job failed beside the one that moved on: %v", failed[1])
	}
	if d := state(t, s, a.ID); len(d.Attempts) != 1 {
		t.Errorf("the job that moved on has %d attempts, want 1", len(d.Attempts))
	}
	if d := state(t, s, b.ID); d.State != postbox.StateDone || len(d.Attempts) != 1 {
		t.Errorf("the held job: state %q attempts %d, want done with 1", d.State, len(d.Attempts))
	}
}

func testAdvanceNothingDue(t *testing.T, s postbox.Store) {
	if jobs, _ := advance(t, s, postbox.Step{Claim: 10}); len(jobs) != 0 {
		t.Fatalf("claimed %+v from an empty store", jobs)
	}
	d := NewDelivery("lamp", 1)
	mustAppend(t, s, d)
	j := claim(t, s, 1)[0]
	if jobs, _ := advance(t, s, postbox.Step{Claim: 10}); len(jobs) != 0 {
		t.Fatalf("claimed a leased job: %+v", jobs)
	}
	jobs, _ := advance(t, s, postbox.Step{Claim: 10, Done: []postbox.Done{
		done(j, postbox.OutcomeFailed, postbox.JobTransition{Next: postbox.StatePending, RetryAt: time.Now().Add(time.Hour)})}})
	if len(jobs) != 0 {
		t.Fatalf("claimed a retry before it is due: %+v", jobs)
	}
}

func testAdvanceSkip(t *testing.T, s postbox.Store) {
	a := NewDelivery("a", 1)
	mustAppend(t, s, a)
	first := NewDelivery("b", 1)
	first.Key = "k"
	mustAppend(t, s, first)
	second := NewDelivery("b", 1)
	second.Key = "k"
	mustAppend(t, s, second)
	jobs, _ := advance(t, s, postbox.Step{Claim: 10, Skip: []string{"a"}})
	if len(jobs) != 1 || jobs[0].DeliveryID != first.ID {
		t.Fatalf("claimed %+v, want only the first delivery with key k", jobs)
	}
	jobs, _ = advance(t, s, postbox.Step{Claim: 10, Skip: []string{"a"},
		Done: []postbox.Done{done(jobs[0], postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})}})
	if len(jobs) != 1 || jobs[0].DeliveryID != second.ID {
		t.Fatalf("after the first finished: claimed %+v, want the second delivery with key k", jobs)
	}
}

func testAdvanceRetry(t *testing.T, s postbox.Store) {
	d := NewDelivery("lamp", 1)
	mustAppend(t, s, d)
	j := claim(t, s, 1)[0]
	jobs, failed := advance(t, s, postbox.Step{Claim: 10, Done: []postbox.Done{
		done(j, postbox.OutcomeFailed, postbox.JobTransition{Next: postbox.StatePending, RetryAt: time.Now()})}})
	if failed[0] != nil {
		t.Fatal(failed[0])
	}
	if len(jobs) != 1 || jobs[0].DeliveryID != d.ID || jobs[0].Attempt != 1 {
		t.Fatalf("claimed %+v, want the due retry", jobs)
	}
	_, failed = advance(t, s, postbox.Step{Done: []postbox.Done{
		done(jobs[0], postbox.OutcomeFailed, postbox.JobTransition{Next: postbox.StateDead})}})
	if failed[0] != nil {
		t.Fatal(failed[0])
	}
	if got := state(t, s, d.ID); got.State != postbox.StateDead || len(got.Attempts) != 2 || got.Attempts[1].N != 2 {
		t.Errorf("state %q attempts %+v, want dead after 2", got.State, got.Attempts)
	}
}

func testAdvanceSkipActions(t *testing.T, s postbox.Store) {
	first := NewDelivery("fwd", 2) // its job is at action 0
	mustAppend(t, s, first)
	other := NewDelivery("other", 1)
	mustAppend(t, s, other)
	skip := []postbox.ActionRef{{Hook: "fwd", Action: 1}, {Hook: "other", Action: 0}}
	jobs, _ := advance(t, s, postbox.Step{Claim: 10, SkipActions: skip})
	if len(jobs) != 1 || jobs[0].DeliveryID != first.ID || jobs[0].Action != 0 {
		t.Fatalf("claimed %+v, want only fwd's action 0 (other's action 0 and fwd's action 1 are skipped)", jobs)
	}
	// fwd moves on to action 1, which is skipped: nothing more to claim,
	// and a job that is skipped is not due either.
	jobs, _ = advance(t, s, postbox.Step{Claim: 10, SkipActions: skip,
		Done: []postbox.Done{done(jobs[0], postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})}})
	if len(jobs) != 0 {
		t.Fatalf("claimed %+v, want nothing: both due jobs are of skipped actions", jobs)
	}
	if jobs, _ = advance(t, s, postbox.Step{Claim: 10, SkipActions: skip}); len(jobs) != 0 {
		t.Fatalf("a claim without writes claimed %+v, want nothing", jobs)
	}
	jobs, _ = advance(t, s, postbox.Step{Claim: 10, SkipActions: skip[1:]})
	if len(jobs) != 1 || jobs[0].DeliveryID != first.ID || jobs[0].Action != 1 {
		t.Fatalf("claimed %+v, want fwd's action 1 once it is no longer skipped", jobs)
	}
}

func testAdvanceDefer(t *testing.T, s postbox.Store) {
	claimedJob := NewDelivery("down", 1)
	mustAppend(t, s, claimedJob)
	held := claim(t, s, 1)[0]
	waiting := NewDelivery("down", 1)
	mustAppend(t, s, waiting)
	other := NewDelivery("up", 1)
	mustAppend(t, s, other)
	later := time.Now().Add(time.Hour)
	down := postbox.ActionRef{Hook: "down", Action: 0}
	jobs, _ := advance(t, s, postbox.Step{Claim: 10, Defer: []postbox.Deferral{{Action: down, Until: later}}})
	if len(jobs) != 1 || jobs[0].DeliveryID != other.ID {
		t.Fatalf("claimed %+v after deferring down's jobs, want only up's", jobs)
	}
	if b, ok := s.(postbox.Backlogger); ok {
		bl, err := b.Backlog(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if bl.Due != 0 || bl.Jobs != 3 {
			t.Errorf("backlog %+v, want 3 jobs and none due (down's waiting one is deferred)", bl)
		}
	}
	// The job claimed before the deferral is still held: it finishes.
	if _, failed := advance(t, s, postbox.Step{Done: []postbox.Done{done(held, postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})}}); failed[0] != nil {
		t.Fatalf("the job claimed before the deferral: %v", failed[0])
	}
	jobs, _ = advance(t, s, postbox.Step{Claim: 10, Defer: []postbox.Deferral{{Action: down}}})
	if len(jobs) != 1 || jobs[0].DeliveryID != waiting.ID {
		t.Fatalf("claimed %+v after undeferring, want down's waiting job", jobs)
	}
}
