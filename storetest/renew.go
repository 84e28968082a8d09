package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

var renewTests = []storeCase{
	{"a held lease is renewed with its token; a stale or released one is lost", testRenew},
}

func testRenew(t *testing.T, s postbox.Store) {
	r, ok := s.(postbox.Renewer)
	if !ok {
		t.Fatal("the store does not renew leases (postbox.Renewer)")
	}
	ctx := context.Background()
	mustAppend(t, s, NewDelivery("h", 1))
	mustAppend(t, s, NewDelivery("h", 1))
	jobs := claim(t, s, 2)
	if len(jobs) != 2 || jobs[0].Lease == 0 {
		t.Fatalf("claimed %+v, want 2 jobs with a lease token", jobs)
	}
	stale := *jobs[0] // a holder that paused and kept the first token
	first := jobs[0].Lease
	leases, err := r.Renew(ctx, jobs, time.Hour)
	if err != nil || len(leases) != 2 || leases[0] == 0 || leases[1] == 0 {
		t.Fatalf("renewing held jobs: %v, %v; want two new tokens", leases, err)
	}
	if leases[0] <= first {
		t.Errorf("lease token %d after renewing for an hour, want past %d", leases[0], first)
	}
	if jobs[0].Lease != first {
		t.Errorf("Renew changed the job's token; the caller keeps it")
	}
	jobs[0].Lease, jobs[1].Lease = leases[0], leases[1]
	// Renewed for an hour: no claim takes them.
	if got := claim(t, s, 10); len(got) != 0 {
		t.Fatalf("claimed %+v while their leases were renewed", got)
	}
	leases, err = r.Renew(ctx, []*postbox.Job{&stale}, time.Hour)
	if err != nil || len(leases) != 1 || leases[0] != 0 {
		t.Fatalf("renewing with the stale token: %v, %v; want it lost (0)", leases, err)
	}
	if err := postbox.Release(ctx, s, jobs[1]); err != nil {
		t.Fatal(err)
	}
	leases, err = r.Renew(ctx, jobs, time.Hour)
	if err != nil || len(leases) != 2 || leases[0] == 0 || leases[1] != 0 {
		t.Fatalf("renewing after a release: %v, %v; want the first renewed and the released one lost", leases, err)
	}
	// The still-held one can be finished as usual, with its latest token.
	jobs[0].Lease = leases[0]
	finish(t, s, jobs[0], postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})
}
