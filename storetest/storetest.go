// Package storetest is the behaviour suite every postbox.Store must pass.
// A backend's test calls Run with a function that opens a fresh, empty store.
package storetest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

// Opener returns a new, empty store for one test. The suite closes it.
type Opener func(t *testing.T) postbox.Store

// storeCase is one case of the suite, run against a new store.
type storeCase struct {
	name string
	fn   func(t *testing.T, s postbox.Store)
}

// Run runs the whole suite against stores made by open.
func Run(t *testing.T, open Opener) {
	tests := []storeCase{
		{"an appended delivery reads back byte for byte", testRoundTrip},
		{"a delivery without actions is done at once and has no job", testNoActions},
		{"appending the same id twice is a conflict", testDuplicate},
		{"an unknown delivery is not found", testNotFound},
		{"deliveries list newest first and filter by hook and state", testList},
		{"a claimed job is not claimed again until its lease ends", testClaimLease},
		{"actions run in order and the delivery ends done", testActionsInOrder},
		{"a retry waits until it is due", testRetry},
		{"a failed action stops the delivery unless continue is set", testFailed},
		{"a released job can be claimed again at once", testRelease},
		{"concurrent appends are all stored", testConcurrentAppend},
		{"concurrent claimers never share a job", testConcurrentClaim},
	}
	tests = append(tests, moreTests...)
	tests = append(tests, advanceTests...)
	tests = append(tests, pruneTests...)
	tests = append(tests, retentionTests...)
	tests = append(tests, backlogTests...)
	tests = append(tests, renewTests...)
	tests = append(tests, fenceTests...)
	tests = append(tests, instanceTests...)
	tests = append(tests, relayTests...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

var ids postbox.IDGen

// NewDelivery returns a delivery for hook with n actions, ready to append.
func NewDelivery(hook string, n int) *postbox.Delivery {
	now := time.Now().UTC()
	return &postbox.Delivery{
		ID:         ids.New(now),
		HookID:     hook,
		Method:     "POST",
		Path:       "/hooks/" + hook,
		Query:      url.Values{"a": {"1", "2"}},
		Header:     http.Header{"Content-Type": {"application/json"}, "X-Test": {"x"}},
		Body:       []byte(`{"state":"on"}`),
		RemoteAddr: "127.0.0.1:5555",
		Received:   now,
		PathValues: map[string]string{"id": hook},
		Actions:    n,
	}
}

func mustAppend(t *testing.T, s postbox.Store, d *postbox.Delivery) {
	t.Helper()
	if err := s.Append(context.Background(), d); err != nil {
		t.Fatalf("Append: %v", err)
	}
}

func claim(t *testing.T, s postbox.Store, max int) []*postbox.Job {
	t.Helper()
	jobs, err := postbox.Claim(context.Background(), s, max, time.Minute)
	if err != nil {
		t.Fatalf("Claim: %v", err)
	}
	return jobs
}

func finish(t *testing.T, s postbox.Store, j *postbox.Job, o postbox.Outcome, next postbox.JobTransition) {
	t.Helper()
	a := &postbox.Attempt{Kind: "exec", Started: time.Now(), Duration: time.Millisecond, Outcome: o, Output: "out " + string(o)}
	if err := postbox.Finish(context.Background(), s, j, a, next); err != nil {
		t.Fatalf("Finish: %v", err)
	}
}

func state(t *testing.T, s postbox.Store, id string) *postbox.Delivery {
	t.Helper()
	d, err := s.Delivery(context.Background(), id)
	if err != nil {
		t.Fatalf("Delivery(%s): %v", id, err)
	}
	return d
}

func testRoundTrip(t *testing.T, s postbox.Store) {
	d := NewDelivery("lamp", 1)
	d.Body = []byte{0, 1, 2, 0xff, '\n', '"'}
	mustAppend(t, s, d)
	if d.State != postbox.StatePending {
		t.Errorf("state after append = %q, want pending", d.State)
	}
	got := state(t, s, d.ID)
	if string(got.Body) != string(d.Body) {
		t.Errorf("body = %q, want %q", got.Body, d.Body)
	}
	if got.HookID != "lamp" || got.Method != "POST" || got.Path != d.Path || got.RemoteAddr != d.RemoteAddr {
		t.Errorf("got %+v", got)
	}
	if got.Header.Get("X-Test") != "x" || got.Query.Encode() != "a=1&a=2" || got.PathValues["id"] != "lamp" {
		t.Errorf("header/query/path values lost: %v %v %v", got.Header, got.Query, got.PathValues)
	}
	if !got.Received.Equal(d.Received) {
		t.Errorf("received = %v, want %v", got.Received, d.Received)
	}
	if got.Actions != 1 || got.State != postbox.StatePending {
		t.Errorf("actions/state = %d/%q", got.Actions, got.State)
	}
}

func testNoActions(t *testing.T, s postbox.Store) {
	d := NewDelivery("noop", 0)
	mustAppend(t, s, d)
	if got := state(t, s, d.ID); got.State != postbox.StateDone {
		t.Errorf("state = %q, want done", got.State)
	}
	if jobs := claim(t, s, 10); len(jobs) != 0 {
		t.Errorf("claimed %d jobs, want none", len(jobs))
	}
}

func testDuplicate(t *testing.T, s postbox.Store) {
	d := NewDelivery("lamp", 1)
	mustAppend(t, s, d)
	err := s.Append(context.Background(), d)
	if postbox.ErrorCode(err) != postbox.ECONFLICT {
		t.Errorf("second append: %v, want code %s", err, postbox.ECONFLICT)
	}
}

func testNotFound(t *testing.T, s postbox.Store) {
	_, err := s.Delivery(context.Background(), "nope")
	if postbox.ErrorCode(err) != postbox.ENOTFOUND {
		t.Errorf("Delivery(nope): %v, want code %s", err, postbox.ENOTFOUND)
	}
}

func testList(t *testing.T, s postbox.Store) {
	var want []string
	for i := 0; i < 5; i++ {
		hook := "a"
		if i%2 == 1 {
			hook = "b"
		}
		d := NewDelivery(hook, i%2)
		mustAppend(t, s, d)
		want = append(want, d.ID)
	}
	all, err := s.Deliveries(context.Background(), postbox.DeliveryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 || all[0].ID != want[4] || all[4].ID != want[0] {
		t.Fatalf("list = %v, want newest first of %v", ids4(all), want)
	}
	b, _ := s.Deliveries(context.Background(), postbox.DeliveryFilter{Hook: "b"})
	if len(b) != 2 {
		t.Errorf("hook b: %d deliveries, want 2", len(b))
	}
	done, _ := s.Deliveries(context.Background(), postbox.DeliveryFilter{State: postbox.StateDone})
	if len(done) != 3 {
		t.Errorf("done: %d deliveries, want 3", len(done))
	}
	page, _ := s.Deliveries(context.Background(), postbox.DeliveryFilter{Before: want[2], Limit: 1})
	if len(page) != 1 || page[0].ID != want[1] {
		t.Errorf("page before %s = %v, want [%s]", want[2], ids4(page), want[1])
	}
}

func ids4(ds []*postbox.Delivery) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func testClaimLease(t *testing.T, s postbox.Store) {
	d := NewDelivery("lamp", 1)
	mustAppend(t, s, d)
	jobs := claim(t, s, 10)
	if len(jobs) != 1 || jobs[0].DeliveryID != d.ID || jobs[0].Action != 0 || jobs[0].HookID != "lamp" {
		t.Fatalf("claimed %+v", jobs)
	}
	if again := claim(t, s, 10); len(again) != 0 {
		t.Errorf("leased job claimed again: %+v", again)
	}
	// A short lease expires and the job is claimed again: at-least-once
	// after a worker dies.
	d2 := NewDelivery("lamp", 1)
	mustAppend(t, s, d2)
	short, err := postbox.Claim(context.Background(), s, 10, time.Millisecond)
	if err != nil || len(short) != 1 {
		t.Fatalf("claim: %v %v", short, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if again := claim(t, s, 10); len(again) == 1 && again[0].DeliveryID == d2.ID {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("expired lease never claimed again")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testActionsInOrder(t *testing.T, s postbox.Store) {
	d := NewDelivery("lamp", 3)
	mustAppend(t, s, d)
	for i := 0; i < 3; i++ {
		jobs := claim(t, s, 10)
		if len(jobs) != 1 || jobs[0].Action != i {
			t.Fatalf("step %d: claimed %+v", i, jobs)
		}
		finish(t, s, jobs[0], postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})
	}
	got := state(t, s, d.ID)
	if got.State != postbox.StateDone || len(got.Attempts) != 3 {
		t.Fatalf("state %q with %d attempts", got.State, len(got.Attempts))
	}
	for i, a := range got.Attempts {
		if a.Action != i || a.N != 1 || a.Outcome != postbox.OutcomeOK || a.Output != "out ok" || a.Kind != "exec" {
			t.Errorf("attempt %d = %+v", i, a)
		}
	}
}

func testRetry(t *testing.T, s postbox.Store) {
	d := NewDelivery("lamp", 1)
	mustAppend(t, s, d)
	j := claim(t, s, 1)[0]
	finish(t, s, j, postbox.OutcomeFailed, postbox.JobTransition{Next: postbox.StatePending, RetryAt: time.Now().Add(time.Hour)})
	if jobs := claim(t, s, 10); len(jobs) != 0 {
		t.Fatalf("retry claimed before due: %+v", jobs)
	}
	d2 := NewDelivery("lamp", 1)
	mustAppend(t, s, d2)
	j2 := claim(t, s, 1)[0]
	finish(t, s, j2, postbox.OutcomeFailed, postbox.JobTransition{Next: postbox.StatePending, RetryAt: time.Now()})
	jobs := claim(t, s, 10)
	if len(jobs) != 1 || jobs[0].DeliveryID != d2.ID || jobs[0].Attempt != 1 {
		t.Fatalf("due retry: claimed %+v", jobs)
	}
	finish(t, s, jobs[0], postbox.OutcomeFailed, postbox.JobTransition{Next: postbox.StateDead})
	got := state(t, s, d2.ID)
	if got.State != postbox.StateDead || len(got.Attempts) != 2 || got.Attempts[1].N != 2 {
		t.Errorf("state %q attempts %+v", got.State, got.Attempts)
	}
}

func testFailed(t *testing.T, s postbox.Store) {
	stop := NewDelivery("a", 2)
	mustAppend(t, s, stop)
	finish(t, s, claim(t, s, 1)[0], postbox.OutcomeFailed, postbox.JobTransition{Next: postbox.StateFailed})
	if got := state(t, s, stop.ID); got.State != postbox.StateFailed {
		t.Errorf("state %q, want failed", got.State)
	}
	if jobs := claim(t, s, 10); len(jobs) != 0 {
		t.Fatalf("failed delivery still has jobs: %+v", jobs)
	}
	cont := NewDelivery("b", 2)
	mustAppend(t, s, cont)
	finish(t, s, claim(t, s, 1)[0], postbox.OutcomeFailed, postbox.JobTransition{Next: postbox.StateFailed, Continue: true})
	jobs := claim(t, s, 10)
	if len(jobs) != 1 || jobs[0].Action != 1 {
		t.Fatalf("continue_on_error: claimed %+v", jobs)
	}
	finish(t, s, jobs[0], postbox.OutcomeOK, postbox.JobTransition{Next: postbox.StateDone})
	if got := state(t, s, cont.ID); got.State != postbox.StateFailed {
		t.Errorf("state %q, want failed (an earlier action failed)", got.State)
	}
}

func testRelease(t *testing.T, s postbox.Store) {
	d := NewDelivery("lamp", 1)
	mustAppend(t, s, d)
	j := claim(t, s, 1)[0]
	if err := postbox.Release(context.Background(), s, j); err != nil {
		t.Fatal(err)
	}
	jobs := claim(t, s, 1)
	if len(jobs) != 1 || jobs[0].DeliveryID != d.ID || jobs[0].Attempt != 0 {
		t.Fatalf("after release: %+v", jobs)
	}
}

func testConcurrentAppend(t *testing.T, s postbox.Store) {
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Append(context.Background(), NewDelivery(fmt.Sprint("h", i%4), 1))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.Deliveries(context.Background(), postbox.DeliveryFilter{Limit: 1000})
	if err != nil || len(all) != n {
		t.Fatalf("listed %d (%v), want %d", len(all), err, n)
	}
}

func testConcurrentClaim(t *testing.T, s postbox.Store) {
	const n = 100
	for i := 0; i < n; i++ {
		mustAppend(t, s, NewDelivery("lamp", 1))
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				jobs, err := postbox.Claim(context.Background(), s, 7, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(jobs) == 0 {
					return
				}
				mu.Lock()
				for _, j := range jobs {
					seen[j.DeliveryID]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != n {
		t.Errorf("claimed %d distinct jobs, want %d", len(seen), n)
	}
	for id, c := range seen {
		if c != 1 {
			t.Errorf("job %s claimed %d times", id, c)
		}
	}
}
