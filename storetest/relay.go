package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/prune"
)

var relayTests = []storeCase{
	{"the relay order lists every delivery after a cursor once, with its body", testRelayOrder},
	{"the relay order filters by hook and receive time and pages by cursor", testRelayFilters},
	{"a relay follower misses no delivery whose commit lands late and sees none twice", testRelayConcurrent},
	{"a relay cursor the store did not make is invalid", testRelayBadCursor},
	{"a delivery lists the listeners it was relayed to", testRelayRecord},
	{"the relay order goes on after retention deleted every delivery", testRelayAfterPruneAll},
}

func relayer(t *testing.T, s postbox.Store) postbox.Relayer {
	t.Helper()
	r, ok := s.(postbox.Relayer)
	if !ok {
		t.Fatal("the store has no relay order (postbox.Relayer)")
	}
	return r
}

func relayAfter(t *testing.T, r postbox.Relayer, f postbox.RelayFilter) []postbox.Relayed {
	t.Helper()
	got, err := r.RelayAfter(context.Background(), f)
	if err != nil {
		t.Fatalf("RelayAfter(%+v): %v", f, err)
	}
	return got
}

// relaySettled is relayAfter once it lists at least n deliveries: on
// PostgreSQL a delivery enters the relay order only when every
// transaction older than its own has ended, anywhere on the server (a
// test running beside this one holds it back a moment).
func relaySettled(t *testing.T, r postbox.Relayer, f postbox.RelayFilter, n int) []postbox.Relayed {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := relayAfter(t, r, f)
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func relayHead(t *testing.T, r postbox.Relayer) string {
	t.Helper()
	head, err := r.RelayHead(context.Background())
	if err != nil {
		t.Fatalf("RelayHead: %v", err)
	}
	return head
}

func relayedIDs(rs []postbox.Relayed) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.Delivery.ID)
	}
	return ids
}

func testRelayOrder(t *testing.T, s postbox.Store) {
	r := relayer(t, s)
	empty := relayHead(t, r)
	var want []string
	for i := range 3 {
		d := NewDelivery("gh", i%2)
		d.Body = []byte{'{', 0, 0xff, byte(i), '}'}
		mustAppend(t, s, d)
		want = append(want, d.ID)
	}
	got := relaySettled(t, r, postbox.RelayFilter{After: empty}, 3)
	if ids := relayedIDs(got); len(ids) != 3 || ids[0] != want[0] || ids[1] != want[1] || ids[2] != want[2] {
		t.Fatalf("after the empty store's head: %v, want %v", ids, want)
	}
	if b := got[2].Delivery.Body; string(b) != string([]byte{'{', 0, 0xff, 2, '}'}) {
		t.Errorf("body = %q, want the bytes appended", b)
	}
	if got[0].Delivery.Header.Get("X-Test") != "x" || got[0].Delivery.Path != "/hooks/gh" || got[0].Delivery.Method != "POST" {
		t.Errorf("delivery read back as %+v", got[0].Delivery)
	}
	if rest := relayAfter(t, r, postbox.RelayFilter{After: got[2].Cursor}); len(rest) != 0 {
		t.Errorf("after the last cursor: %v, want none", relayedIDs(rest))
	}
	if rest := relayAfter(t, r, postbox.RelayFilter{After: got[0].Cursor}); len(rest) != 2 || rest[0].Delivery.ID != want[1] {
		t.Errorf("after the first cursor: %v, want %v", relayedIDs(rest), want[1:])
	}
	head := relayHead(t, r)
	if rest := relayAfter(t, r, postbox.RelayFilter{After: head}); len(rest) != 0 {
		t.Errorf("after the head: %v, want none", relayedIDs(rest))
	}
	d := NewDelivery("gh", 0)
	mustAppend(t, s, d)
	if rest := relaySettled(t, r, postbox.RelayFilter{After: head}, 1); len(rest) != 1 || rest[0].Delivery.ID != d.ID {
		t.Errorf("after the head, then one append: %v, want [%s]", relayedIDs(rest), d.ID)
	}
}

func testRelayFilters(t *testing.T, s postbox.Store) {
	r := relayer(t, s)
	start := relayHead(t, r)
	old := NewDelivery("a", 0)
	old.Received = time.Now().Add(-2 * time.Hour).UTC()
	mustAppend(t, s, old)
	var as []string
	for i := range 5 {
		hook := "a"
		if i%2 == 1 {
			hook = "b"
		}
		d := NewDelivery(hook, 0)
		mustAppend(t, s, d)
		if hook == "a" {
			as = append(as, d.ID)
		}
	}
	mustAppend(t, s, NewDelivery("c", 0))
	all := relayedIDs(relaySettled(t, r, postbox.RelayFilter{After: start}, 7))
	got := relayedIDs(relayAfter(t, r, postbox.RelayFilter{After: start, Hooks: []string{"a"}, Since: time.Now().Add(-time.Hour)}))
	if len(got) != len(as) || got[0] != as[0] || got[2] != as[2] {
		t.Errorf("hook a within the hour: %v, want %v", got, as)
	}
	if got := relayAfter(t, r, postbox.RelayFilter{After: start, Hooks: []string{"a", "b"}}); len(got) != 6 {
		t.Errorf("hooks a and b: %d deliveries, want 6", len(got))
	}
	// Pages of two read the same sequence as one read.
	var paged []string
	cursor := start
	for range 10 {
		page := relayAfter(t, r, postbox.RelayFilter{After: cursor, Limit: 2})
		if len(page) == 0 {
			break
		}
		paged = append(paged, relayedIDs(page)...)
		cursor = page[len(page)-1].Cursor
	}
	if len(all) != 7 || len(paged) != len(all) {
		t.Fatalf("paged %d, listed %d, want 7 each", len(paged), len(all))
	}
	for i := range all {
		if paged[i] != all[i] {
			t.Fatalf("page order %v differs from %v", paged, all)
		}
	}
}

// testRelayConcurrent follows the relay order while appends run from many
// goroutines at once: some commit after others that started later, and
// the follower must still see each delivery exactly once.
func testRelayConcurrent(t *testing.T, s postbox.Store) {
	r := relayer(t, s)
	cursor := relayHead(t, r)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	appended := map[string]bool{}
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				d := NewDelivery("c", 1)
				if err := s.Append(context.Background(), d); err != nil {
					t.Errorf("Append: %v", err)
					return
				}
				mu.Lock()
				appended[d.ID] = true
				mu.Unlock()
			}
		}()
	}
	seen := map[string]int{}
	deadline := time.Now().Add(30 * time.Second)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	finished, idle := false, 0
	for len(seen) < writers*each && time.Now().Before(deadline) {
		if !finished {
			select {
			case <-done:
				finished = true
			default:
			}
		}
		page := relayAfter(t, r, postbox.RelayFilter{After: cursor, Limit: 7})
		for _, p := range page {
			seen[p.Delivery.ID]++
		}
		if len(page) > 0 {
			cursor = page[len(page)-1].Cursor
		} else if finished {
			// A settled order may trail the last commit a moment
			// (postgres); a delivery skipped for good never comes.
			if idle++; idle > 100 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	<-done
	if len(seen) != writers*each {
		t.Errorf("the follower saw %d deliveries, want %d", len(seen), writers*each)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("delivery %s seen %d times", id, n)
		}
		if !appended[id] {
			t.Errorf("delivery %s seen but not appended", id)
		}
	}
}

func testRelayBadCursor(t *testing.T, s postbox.Store) {
	r := relayer(t, s)
	for _, c := range []string{"x", "-1", "1.5", "01", "99999999999999999999999", "1-2-3", "\x00"} {
		_, err := r.RelayAfter(context.Background(), postbox.RelayFilter{After: c})
		var e *postbox.Error
		if !errors.As(err, &e) || e.Code != postbox.EINVALID {
			t.Errorf("cursor %q: %v, want an EINVALID error", c, err)
		}
	}
}

func testRelayRecord(t *testing.T, s postbox.Store) {
	r := relayer(t, s)
	d := NewDelivery("gh", 0)
	mustAppend(t, s, d)
	at := time.Now().UTC().Truncate(time.Millisecond)
	for _, l := range []string{"laptop", "ci", "laptop"} {
		if err := r.RecordRelay(context.Background(), d.ID, l, at); err != nil {
			t.Fatalf("RecordRelay: %v", err)
		}
		at = at.Add(time.Second)
	}
	got := state(t, s, d.ID).Relays
	if len(got) != 2 || got[0].Listener != "ci" || got[1].Listener != "laptop" || !got[1].At.Equal(at.Add(-time.Second)) {
		t.Errorf("relays = %+v, want ci then laptop at its latest time", got)
	}
	if err := r.RecordRelay(context.Background(), "01NOSUCHDELIVERY0000000000", "laptop", at); err != nil {
		t.Errorf("RecordRelay of an unknown delivery: %v, want nil", err)
	}
}

// testRelayAfterPruneAll deletes every delivery, the newest included:
// a delivery stored then still sorts after a cursor handed out before.
func testRelayAfterPruneAll(t *testing.T, s postbox.Store) {
	r := relayer(t, s)
	p, ok := s.(prune.Store)
	if !ok {
		t.Skip("the store has no retention")
	}
	start := relayHead(t, r)
	for range 3 {
		mustAppend(t, s, NewDelivery("gone", 0))
	}
	got := relaySettled(t, r, postbox.RelayFilter{After: start}, 3)
	if len(got) != 3 {
		t.Fatalf("listed %d, want 3", len(got))
	}
	last := got[2].Cursor
	if n, err := p.DeleteDeliveries(context.Background(), prune.Cut{}, 100); err != nil || n != 3 {
		t.Fatalf("DeleteDeliveries: %d, %v; want 3 deleted", n, err)
	}
	d := NewDelivery("new", 0)
	mustAppend(t, s, d)
	if rest := relaySettled(t, r, postbox.RelayFilter{After: last}, 1); len(rest) != 1 || rest[0].Delivery.ID != d.ID {
		t.Errorf("after the last cursor before the prune: %v, want [%s]", relayedIDs(rest), d.ID)
	}
	if head := relayHead(t, r); head == start {
		t.Errorf("the head went back to %q", head)
	}
}
