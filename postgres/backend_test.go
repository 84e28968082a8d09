package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/storetest"
)

// These tests cover what only a shared database has: several handles (as
// several instances would hold) on one schema.

func TestMigrationsRunConcurrentlyAndTwice(t *testing.T) {
	u := freshSchema(t)
	const instances = 6
	var wg sync.WaitGroup
	errs := make(chan error, 2*instances)
	for range instances {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2 {
				db, err := Open(context.Background(), u)
				if err != nil {
					errs <- err
					return
				}
				db.Close()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Open: %v", err)
	}
	db := openDB(t, u)
	files, err := os.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.pool.QueryRow(context.Background(), `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(files) {
		t.Errorf("schema_migrations has %d rows, want one per migration file (%d)", n, len(files))
	}
	applied, err := migrate(context.Background(), db.pool)
	if err != nil || len(applied) != 0 {
		t.Errorf("migrating an up-to-date schema applied %v (%v), want nothing", applied, err)
	}
}

func TestTwoHandlesClaimingConcurrentlyNeverShareAJob(t *testing.T) {
	u := freshSchema(t)
	handles := []*DB{openDB(t, u), openDB(t, u)}
	const n = 300
	for i := range n {
		if err := handles[i%2].Append(context.Background(), storetest.NewDelivery("lamp", 1)); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				jobs, err := postbox.Claim(context.Background(), handles[w%2], 5, time.Minute)
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

func TestAnExpiredLeaseIsTakenOverByAnotherHandle(t *testing.T) {
	u := freshSchema(t)
	dead, alive := openDB(t, u), openDB(t, u)
	ctx := context.Background()
	d := storetest.NewDelivery("lamp", 1)
	if err := dead.Append(ctx, d); err != nil {
		t.Fatal(err)
	}
	const lease, second = 300 * time.Millisecond, time.Minute
	held, err := postbox.Claim(ctx, dead, 10, lease)
	if err != nil || len(held) != 1 {
		t.Fatalf("first claim: %+v %v", held, err)
	}
	// The lease runs on the database's clock: the test reads it there,
	// not from Go's (which a loaded machine delays between the calls).
	leaseEnd := leaseOf(t, alive, d.ID)
	// The instance that claimed it dies without a word.
	dead.Close()
	var taken []*postbox.Job
	deadline := time.Now().Add(10 * time.Second)
	for len(taken) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the expired lease was never taken over")
		}
		if taken, err = postbox.Claim(ctx, alive, 10, second); err != nil {
			t.Fatal(err)
		}
		if len(taken) > 0 {
			// The second lease is the take-over's now plus second.
			if at := leaseOf(t, alive, d.ID) - int64(second); at < leaseEnd {
				t.Fatalf("job taken over %v before its lease ran out", time.Duration(leaseEnd-at))
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if taken[0].DeliveryID != d.ID || taken[0].Attempt != 1 {
		t.Fatalf("took over %+v, want attempt 1 after the interrupted one", taken[0])
	}
	a := &postbox.Attempt{Kind: "exec", Started: time.Now(), Outcome: postbox.OutcomeOK}
	if err := postbox.Finish(ctx, alive, taken[0], a, postbox.JobTransition{Next: postbox.StateDone}); err != nil {
		t.Fatal(err)
	}
	// A worker that only seemed dead and finishes late is refused.
	late := openDB(t, u)
	err = postbox.Finish(ctx, late, held[0], a, postbox.JobTransition{Next: postbox.StateDone})
	if !errors.Is(err, postbox.ErrFenced) {
		t.Errorf("late Finish of a job taken over: %v, want %v", err, postbox.ErrFenced)
	}
	got, err := alive.Delivery(ctx, d.ID)
	if err != nil || got.State != postbox.StateDone || len(got.Attempts) != 2 ||
		got.Attempts[0].Outcome != postbox.OutcomeInterrupted || got.Attempts[1].Outcome != postbox.OutcomeOK {
		t.Errorf("delivery after take-over: %+v %v; want an interrupted attempt and an ok one", got, err)
	}
}

// leaseOf returns the end of the lease on delivery id's job, in ns of the
// database's clock.
func leaseOf(t *testing.T, db *DB, id string) int64 {
	t.Helper()
	var lease int64
	if err := db.pool.QueryRow(context.Background(), `SELECT lease FROM jobs WHERE delivery = $1`, id).Scan(&lease); err != nil {
		t.Fatal(err)
	}
	return lease
}

func TestDedupHoldsAcrossHandlesAppendingAtOnce(t *testing.T) {
	u := freshSchema(t)
	handles := []*DB{openDB(t, u), openDB(t, u), openDB(t, u)}
	const n = 30
	ds := make([]*postbox.Delivery, n)
	for i := range ds {
		ds[i] = storetest.NewDelivery("gh", 1)
		ds[i].DedupKey, ds[i].DedupWindow = "delivery-42", time.Hour
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, d := range ds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if err := handles[i%len(handles)].Append(context.Background(), d); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	var first []string
	for _, d := range ds {
		if d.State == postbox.StatePending {
			first = append(first, d.ID)
		}
	}
	if len(first) != 1 {
		t.Fatalf("%d deliveries were taken as the first of their key, want 1: %v", len(first), first)
	}
	for _, d := range ds {
		if d.State == postbox.StateDuplicate && d.DuplicateOf != first[0] {
			t.Errorf("%s is a duplicate of %q, want %s", d.ID, d.DuplicateOf, first[0])
		}
	}
	jobs, err := postbox.Claim(context.Background(), handles[0], 100, time.Minute)
	if err != nil || len(jobs) != 1 || jobs[0].DeliveryID != first[0] {
		t.Errorf("jobs %+v (%v), want only %s's", jobs, err, first[0])
	}
}

func TestNotifyWakesAWaitingHandle(t *testing.T) {
	u := freshSchema(t)
	waiter, writer := openDB(t, u), openDB(t, u)
	wake := waiter.Wake()
	// The listener says so once it listens (it may have missed something).
	mustWake(t, wake, "the listener's first connection")
	if err := writer.Append(context.Background(), storetest.NewDelivery("lamp", 1)); err != nil {
		t.Fatal(err)
	}
	mustWake(t, wake, "an append on another handle")
}

func TestTheListenerReconnects(t *testing.T) {
	u := freshSchema(t)
	waiter, writer := openDB(t, u), openDB(t, u)
	var log lockedBuffer
	waiter.SetLogger(slog.New(slog.NewTextHandler(&log, nil)))
	wake := waiter.Wake()
	mustWake(t, wake, "the listener's first connection")
	pid := waiter.listener.pid.Load()
	if _, err := writer.pool.Exec(context.Background(), `SELECT pg_terminate_backend($1)`, int32(pid)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for waiter.listener.listens.Load() < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the listener did not reconnect")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The reconnect's own wake-up, sent before listens was counted.
	mustWake(t, wake, "the reconnect")
	if err := writer.Append(context.Background(), storetest.NewDelivery("lamp", 1)); err != nil {
		t.Fatal(err)
	}
	mustWake(t, wake, "an append after the reconnect")
	if !strings.Contains(log.String(), "connection lost") {
		t.Errorf("the lost connection was not logged; log:\n%s", log.String())
	}
}

// lockedBuffer is a log destination that goroutines may share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func mustWake(t *testing.T, wake <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatalf("no wake-up after %s", what)
	}
}

func TestSynchronousCommitStaysOn(t *testing.T) {
	db := openDB(t, freshSchema(t, "options", "-c synchronous_commit=off"))
	var v string
	if err := db.pool.QueryRow(context.Background(), `SHOW synchronous_commit`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != "on" {
		t.Errorf("synchronous_commit = %q on a store connection, want on", v)
	}
}

func TestBytesThatTextRejectsRoundTrip(t *testing.T) {
	db := openDB(t, freshSchema(t))
	ctx := context.Background()
	d := storetest.NewDelivery("gh", 1)
	d.Path = "/hooks/gh/\x00\xff"
	d.Key = "k\x00\xfe"
	d.DedupKey, d.DedupWindow = "id\x00\xc3", time.Hour
	if err := db.Append(ctx, d); err != nil {
		t.Fatal(err)
	}
	jobs, err := postbox.Claim(ctx, db, 1, time.Minute)
	if err != nil || len(jobs) != 1 {
		t.Fatalf("claim: %+v %v", jobs, err)
	}
	// Output cut in the middle of a UTF-8 sequence, with a NUL.
	a := &postbox.Attempt{Kind: "exec", Started: time.Now(), Outcome: postbox.OutcomeFailed,
		Output: "caf\xc3", Error: "exit\x00status 1", Truncated: true}
	if err := postbox.Finish(ctx, db, jobs[0], a, postbox.JobTransition{Next: postbox.StateFailed}); err != nil {
		t.Fatal(err)
	}
	got, err := db.Delivery(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Path != d.Path || got.Key != d.Key || got.DedupKey != d.DedupKey {
		t.Errorf("path/key/dedup key = %q %q %q, want %q %q %q", got.Path, got.Key, got.DedupKey, d.Path, d.Key, d.DedupKey)
	}
	if len(got.Attempts) != 1 || got.Attempts[0].Output != a.Output || got.Attempts[0].Error != a.Error {
		t.Errorf("attempts = %+v", got.Attempts)
	}
}

func TestOpenRefusesABadURLWithoutShowingIt(t *testing.T) {
	_, err := Open(context.Background(), "postgres://u:s3cret@127.0.0.1:notaport/db")
	if err == nil {
		t.Fatal("Open of a bad URL succeeded")
	}
	if msg := fmt.Sprint(err); strings.Contains(msg, "s3cret") {
		t.Errorf("error shows the password: %s", msg)
	}
}

// TestAStalledTransactionDoesNotBlockTakeover: an instance that stops
// inside its transaction (SIGSTOP between the lock and the commit) holds
// the job's row lock, which claims skip; the session is ended after
// idle_in_transaction_session_timeout, and the job can be taken over.
func TestAStalledTransactionDoesNotBlockTakeover(t *testing.T) {
	u := freshSchema(t)
	stalled, alive := openDB(t, u), openDB(t, u)
	ctx := context.Background()
	d := storetest.NewDelivery("h", 1)
	if err := alive.Append(ctx, d); err != nil {
		t.Fatal(err)
	}
	tx, err := stalled.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT 1 FROM jobs WHERE delivery = $1 FOR UPDATE`, d.ID); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	if jobs, err := postbox.Claim(ctx, alive, 1, time.Minute); err != nil || len(jobs) != 0 {
		t.Fatalf("claimed %v (%v) while another transaction held the row", jobs, err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		jobs, err := postbox.Claim(ctx, alive, 1, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(jobs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job stayed locked by a stalled transaction")
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("claimed %s after the stalled transaction's lock", time.Since(started).Round(100*time.Millisecond))
}
