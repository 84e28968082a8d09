package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

var backlogTests = []storeCase{
	{"the backlog counts due, claimed and waiting jobs and dates the oldest due", testBacklog},
}

func backlog(t *testing.T, s postbox.Store) postbox.Backlog {
	t.Helper()
	b, ok := s.(postbox.Backlogger)
	if !ok {
		t.Fatal("the store does not report its backlog (postbox.Backlogger)")
	}
	got, err := b.Backlog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func testBacklog(t *testing.T, s postbox.Store) {
	if b := backlog(t, s); b != (postbox.Backlog{}) {
		t.Fatalf("an empty store's backlog is %+v, want zero", b)
	}
	before := time.Now().Add(-time.Second)
	first := NewDelivery("h", 1)
	mustAppend(t, s, first)
	for range 3 {
		mustAppend(t, s, NewDelivery("h", 1))
	}
	mustAppend(t, s, NewDelivery("h", 0)) // done at once: no job
	b := backlog(t, s)
	if b.Jobs != 4 || b.Due != 4 || b.Leased != 0 {
		t.Errorf("after 4 appends: %+v, want 4 jobs, 4 due, none leased", b)
	}
	if b.OldestDue.Before(before) || b.OldestDue.After(time.Now().Add(time.Second)) {
		t.Errorf("oldest due %v, want about now", b.OldestDue)
	}
	jobs := claim(t, s, 2)
	// One claimed job retries in an hour: no longer due, still a job.
	finish(t, s, jobs[0], postbox.OutcomeFailed, postbox.JobTransition{Next: postbox.StatePending, RetryAt: time.Now().Add(time.Hour)})
	b = backlog(t, s)
	if b.Jobs != 4 || b.Due != 2 || b.Leased != 1 {
		t.Errorf("after claiming 2 and failing one: %+v, want 4 jobs, 2 due, 1 leased", b)
	}
	finish(t, s, jobs[1], postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})
	if b = backlog(t, s); b.Jobs != 3 || b.Due != 2 || b.Leased != 0 {
		t.Errorf("after one is done: %+v, want 3 jobs, 2 due, none leased", b)
	}
}
