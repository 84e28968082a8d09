package queue_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/action/exec"
	"github.com/postbox/postbox/queue"
	"github.com/postbox/postbox/sqlite"
	"github.com/postbox/postbox/storetest"
)

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func shell(t *testing.T, script string, timeout time.Duration) postbox.Action {
	t.Helper()
	a, err := exec.New(exec.Config{Command: "sh", Args: []string{"-c", script}, Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// start runs a queue over db with hooks until the test ends.
func start(t *testing.T, db *sqlite.DB, grace time.Duration, hooks ...*postbox.Hook) (*queue.Queue, context.CancelFunc, chan struct{}) {
	t.Helper()
	q := queue.New(queue.Options{Store: db, Hooks: hooks, Workers: 4, Grace: grace, Poll: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return q, cancel, done
}

func waitState(t *testing.T, db *sqlite.DB, id string, want postbox.State) *postbox.Delivery {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := db.Delivery(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d.State == want {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s is %q, want %q; attempts %+v", id, d.State, want, d.Attempts)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func appendFor(t *testing.T, db *sqlite.DB, q *queue.Queue, h *postbox.Hook) *postbox.Delivery {
	t.Helper()
	d := storetest.NewDelivery(h.ID, len(h.Actions))
	if err := db.Append(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	q.Notify()
	return d
}

func TestActionsRunInOrderWithTheirOutput(t *testing.T) {
	db := openStore(t)
	out := filepath.Join(t.TempDir(), "order")
	h := &postbox.Hook{ID: "h", Actions: []postbox.Action{
		shell(t, "echo one >> "+out+"; echo first", time.Second),
		shell(t, "echo two >> "+out+"; echo second >&2", time.Second),
	}}
	q, _, _ := start(t, db, time.Second, h)
	d := waitState(t, db, appendFor(t, db, q, h).ID, postbox.StateDone)
	got, _ := os.ReadFile(out)
	if string(got) != "one\ntwo\n" {
		t.Errorf("actions ran as %q, want one then two", got)
	}
	if len(d.Attempts) != 2 || d.Attempts[0].Output != "first\n" || d.Attempts[1].Output != "second\n" || d.Attempts[1].ExitCode != 0 {
		t.Errorf("attempts = %+v", d.Attempts)
	}
}

func TestAFailingActionIsRetriedUntilItSucceeds(t *testing.T) {
	db := openStore(t)
	counter := filepath.Join(t.TempDir(), "n")
	// Fails on runs 1 and 2, succeeds on run 3.
	script := fmt.Sprintf(`n=$(cat %[1]s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s; [ $n -ge 3 ]`, counter)
	h := &postbox.Hook{ID: "h", Actions: []postbox.Action{shell(t, script, time.Second)},
		Retry: postbox.RetryPolicy{Attempts: 5, Backoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}}
	q, _, _ := start(t, db, time.Second, h)
	d := waitState(t, db, appendFor(t, db, q, h).ID, postbox.StateDone)
	if len(d.Attempts) != 3 {
		t.Fatalf("%d attempts, want 3: %+v", len(d.Attempts), d.Attempts)
	}
	for i, a := range d.Attempts {
		want := postbox.OutcomeFailed
		if i == 2 {
			want = postbox.OutcomeOK
		}
		if a.N != i+1 || a.Outcome != want {
			t.Errorf("attempt %d: n=%d outcome=%s, want n=%d outcome=%s", i, a.N, a.Outcome, i+1, want)
		}
	}
	if d.Attempts[0].ExitCode != 1 {
		t.Errorf("exit code %d, want 1", d.Attempts[0].ExitCode)
	}
}

func TestADeliveryIsDeadAfterItsLastAttempt(t *testing.T) {
	db := openStore(t)
	h := &postbox.Hook{ID: "h", Actions: []postbox.Action{shell(t, "exit 7", time.Second)},
		Retry: postbox.RetryPolicy{Attempts: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}}
	q, _, _ := start(t, db, time.Second, h)
	d := waitState(t, db, appendFor(t, db, q, h).ID, postbox.StateDead)
	if len(d.Attempts) != 3 || d.Attempts[2].ExitCode != 7 {
		t.Errorf("attempts = %+v", d.Attempts)
	}
	dead, _ := db.Deliveries(context.Background(), postbox.DeliveryFilter{State: postbox.StateDead})
	if len(dead) != 1 {
		t.Errorf("%d dead deliveries listed, want 1", len(dead))
	}
}

// With the default attempts (one), a failure a retry might mend uses up
// the attempts: the delivery is dead, as after the last of several, so that
// `deliveries replay --state dead` finds it.
func TestWithoutRetriesAFailureIsFinalAndDead(t *testing.T) {
	db := openStore(t)
	out := filepath.Join(t.TempDir(), "ran")
	h := &postbox.Hook{ID: "h", Actions: []postbox.Action{shell(t, "exit 1", time.Second), shell(t, "touch "+out, time.Second)}}
	q, _, _ := start(t, db, time.Second, h)
	d := waitState(t, db, appendFor(t, db, q, h).ID, postbox.StateDead)
	if len(d.Attempts) != 1 {
		t.Errorf("attempts = %+v", d.Attempts)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the second action ran after the first failed")
	}
}

func TestContinueOnErrorRunsTheNextActions(t *testing.T) {
	db := openStore(t)
	out := filepath.Join(t.TempDir(), "ran")
	h := &postbox.Hook{ID: "h", ContinueOnError: true,
		Actions: []postbox.Action{shell(t, "exit 1", time.Second), shell(t, "touch "+out, time.Second)}}
	q, _, _ := start(t, db, time.Second, h)
	d := waitState(t, db, appendFor(t, db, q, h).ID, postbox.StateFailed)
	if len(d.Attempts) != 2 || d.Attempts[1].Outcome != postbox.OutcomeOK {
		t.Errorf("attempts = %+v", d.Attempts)
	}
	if _, err := os.Stat(out); err != nil {
		t.Error("the second action did not run")
	}
}

func TestACommandPastItsTimeoutIsKilledWithItsChildren(t *testing.T) {
	db := openStore(t)
	pidFile := filepath.Join(t.TempDir(), "child")
	h := &postbox.Hook{ID: "h", Actions: []postbox.Action{
		shell(t, "sleep 30 & echo $! > "+pidFile+"; wait", 200*time.Millisecond)}}
	q, _, _ := start(t, db, time.Second, h)
	d := waitState(t, db, appendFor(t, db, q, h).ID, postbox.StateDead)
	if d.Attempts[0].Outcome != postbox.OutcomeTimeout || !strings.Contains(d.Attempts[0].Error, "killed") {
		t.Errorf("attempt = %+v", d.Attempts[0])
	}
	pid, _ := os.ReadFile(pidFile)
	deadline := time.Now().Add(5 * time.Second)
	for {
		// The child was in the command's process group: it must be gone.
		if _, err := os.Stat("/proc/" + strings.TrimSpace(string(pid))); err != nil {
			break
		}
		if stat, _ := os.ReadFile("/proc/" + strings.TrimSpace(string(pid)) + "/stat"); strings.Contains(string(stat), ") Z ") {
			break // a zombie waiting for its reaper is dead too
		}
		if time.Now().After(deadline) {
			t.Fatalf("child %s of the timed-out command is still running", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestShutdownHandsBackAnActionThatOutlivesTheGrace(t *testing.T) {
	db := openStore(t)
	started := filepath.Join(t.TempDir(), "started")
	h := &postbox.Hook{ID: "h", Actions: []postbox.Action{shell(t, "touch "+started+"; sleep 30", time.Minute)}}
	q, cancel, done := start(t, db, 50*time.Millisecond, h)
	d := appendFor(t, db, q, h)
	stopOnceStarted(t, started, cancel, done)
	got, _ := db.Delivery(context.Background(), d.ID)
	if got.State != postbox.StatePending || len(got.Attempts) != 0 {
		t.Fatalf("after shutdown: state %q attempts %+v, want pending with none", got.State, got.Attempts)
	}
	jobs, err := postbox.Claim(context.Background(), db, 10, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].DeliveryID != d.ID {
		t.Fatalf("job was not handed back: %+v %v", jobs, err)
	}
}

func TestBackoffGrowsWithFullJitterAndHonoursRetryAfter(t *testing.T) {
	p := postbox.RetryPolicy{Backoff: time.Second, MaxBackoff: 10 * time.Second}
	for n, ceiling := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second} {
		var most time.Duration
		for i := 0; i < 200; i++ {
			d := queue.Backoff(p, n, 0)
			if d < 0 || d > ceiling {
				t.Fatalf("retry %d: backoff %s outside [0, %s]", n+1, d, ceiling)
			}
			most = max(most, d)
		}
		// The ceiling is reached, not just respected: of 200 draws from
		// [0, ceiling] all stay under 3/4 of it with odds of 10⁻²⁵, so a
		// backoff that is always 0 or does not double is caught.
		if most < ceiling*3/4 {
			t.Errorf("retry %d: the longest of 200 backoffs is %s, want up to %s", n+1, most, ceiling)
		}
	}
	if d := queue.Backoff(p, 0, 30*time.Second); d != 30*time.Second {
		t.Errorf("Retry-After 30s gave %s", d)
	}
}

// overlapScript records in bad whenever two runs of it overlap.
func overlapScript(dir string) string {
	return fmt.Sprintf(`mkdir %[1]s/lock 2>/dev/null || echo overlap >> %[1]s/bad; sleep 0.05; rmdir %[1]s/lock 2>/dev/null; echo "$0" >> %[1]s/order`, dir)
}

func TestAHookConcurrencyOfOneRunsItsActionsOneAtATime(t *testing.T) {
	db := openStore(t)
	dir := t.TempDir()
	a, _ := exec.New(exec.Config{Command: "sh", Args: []string{"-c", overlapScript(dir), "{{ .Delivery.ID }}"}, Timeout: 5 * time.Second})
	h := &postbox.Hook{ID: "h", Concurrency: 1, Actions: []postbox.Action{a}}
	q, _, _ := start(t, db, time.Second, h)
	var ids []string
	for i := 0; i < 6; i++ {
		ids = append(ids, appendFor(t, db, q, h).ID)
	}
	for _, id := range ids {
		waitState(t, db, id, postbox.StateDone)
	}
	if bad, err := os.ReadFile(filepath.Join(dir, "bad")); err == nil {
		t.Errorf("actions of a hook with concurrency 1 overlapped: %q", bad)
	}
}

func TestDeliveriesWithOneOrderingKeyRunInArrivalOrder(t *testing.T) {
	db := openStore(t)
	dir := t.TempDir()
	a, _ := exec.New(exec.Config{Command: "sh", Args: []string{"-c", overlapScript(dir), "{{ .Delivery.ID }}"}, Timeout: 5 * time.Second})
	h := &postbox.Hook{ID: "h", Actions: []postbox.Action{a}}
	q, _, _ := start(t, db, time.Second, h)
	var ids []string
	for i := 0; i < 6; i++ {
		d := storetest.NewDelivery(h.ID, 1)
		d.Key = "device-7"
		if err := db.Append(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		q.Notify()
		ids = append(ids, d.ID)
	}
	for _, id := range ids {
		waitState(t, db, id, postbox.StateDone)
	}
	if bad, err := os.ReadFile(filepath.Join(dir, "bad")); err == nil {
		t.Errorf("deliveries with one key overlapped: %q", bad)
	}
	order, _ := os.ReadFile(filepath.Join(dir, "order"))
	if got := strings.Fields(string(order)); strings.Join(got, " ") != strings.Join(ids, " ") {
		t.Errorf("ran in order %v, want arrival order %v", got, ids)
	}
}

func TestEveryDeliveryRunsOnceWhenJobsAreClaimedAhead(t *testing.T) {
	db := openStore(t)
	dir := t.TempDir()
	a, _ := exec.New(exec.Config{Command: "sh", Args: []string{"-c", `echo "$0" >> ` + dir + `/ran`, "{{ .Delivery.ID }}"}, Timeout: 5 * time.Second})
	h := &postbox.Hook{ID: "h", Actions: []postbox.Action{a, a}}
	q := queue.New(queue.Options{Store: db, Hooks: []*postbox.Hook{h}, Workers: 1, Poll: 5 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	var ids []string
	for i := 0; i < 20; i++ {
		ids = append(ids, appendFor(t, db, q, h).ID)
	}
	for _, id := range ids {
		if d := waitState(t, db, id, postbox.StateDone); len(d.Attempts) != 2 {
			t.Errorf("delivery %s: %d attempts, want 2", id, len(d.Attempts))
		}
	}
	ran, _ := os.ReadFile(filepath.Join(dir, "ran"))
	count := map[string]int{}
	for _, id := range strings.Fields(string(ran)) {
		count[id]++
	}
	for _, id := range ids {
		if count[id] != 2 {
			t.Errorf("delivery %s: its actions ran %d times, want 2", id, count[id])
		}
	}
}

func TestShutdownHandsBackTheJobsClaimedAhead(t *testing.T) {
	db := openStore(t)
	started := filepath.Join(t.TempDir(), "started")
	h := &postbox.Hook{ID: "h", Actions: []postbox.Action{shell(t, "touch "+started+"; sleep 30", time.Minute)}}
	q := queue.New(queue.Options{Store: db, Hooks: []*postbox.Hook{h}, Workers: 1, Grace: 50 * time.Millisecond, Poll: 5 * time.Millisecond})
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, appendFor(t, db, q, h).ID)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	stopOnceStarted(t, started, cancel, done)
	jobs, err := postbox.Claim(context.Background(), db, 10, time.Minute)
	if err != nil || len(jobs) != 3 {
		t.Fatalf("after shutdown %d of 3 jobs can be claimed (%v): the rest stay leased to a queue that stopped", len(jobs), err)
	}
	for _, id := range ids {
		if d, _ := db.Delivery(context.Background(), id); d.State != postbox.StatePending || len(d.Attempts) != 0 {
			t.Errorf("delivery %s after shutdown: state %q attempts %+v, want pending with none", id, d.State, d.Attempts)
		}
	}
}

func TestWorkersDefaultToOnePerCPU(t *testing.T) {
	if n := queue.DefaultWorkers(); n != max(runtime.NumCPU(), 1) {
		t.Errorf("DefaultWorkers() = %d, want the number of CPUs, %d", n, runtime.NumCPU())
	}
}

// stopOnceStarted waits for the action to create the file started, then
// stops the queue (cancel) and waits for Run to return (done).
func stopOnceStarted(t *testing.T, started string, cancel context.CancelFunc, done <-chan struct{}) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("action never started")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("queue did not stop after its grace period")
	}
}
