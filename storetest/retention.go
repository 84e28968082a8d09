package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/prune"
)

// Retention cases: each rule of prune.Retention applied by a prune.Retainer
// to the store, on an injected clock, with deliveries received in the past.
var retentionTests = []storeCase{
	{"max_age removes settled deliveries older than it and keeps the younger", testRetainAge},
	{"dead deliveries keep their own age", testRetainDeadAge},
	{"max_deliveries keeps a hook's newest deliveries", testRetainCount},
	{"a hook's own retention applies to it alone", testRetainPerHook},
	{"pending, retrying and claimed deliveries are never removed", testRetainNeverPending},
	{"a prune of many deliveries goes batch by batch, attempts with them", testRetainBatches},
	{"a removed delivery's dedup key keeps its window; expired keys go", testRetainDedup},
	{"a dry run counts what a prune removes and removes nothing", testRetainPlan},
	{"max_size removes the oldest settled deliveries until the store is under it", testRetainSize},
	{"store stats count rows, the oldest, the last day and bytes per hook", testStoreStats},
}

// retentionNow is the injected clock of the retention cases.
var retentionNow = time.Now().UTC()

// idAt returns an id for a delivery received at t: ids sort by the time
// in them, and the suite's shared generator never goes back in time.
func idAt(t time.Time) string {
	var g postbox.IDGen
	return g.New(t)
}

// retained is a store under test with its retainer.
type retained struct {
	t  *testing.T
	s  postbox.Store
	rt *prune.Retainer
}

func retain(t *testing.T, s postbox.Store, r prune.Retention) *retained {
	t.Helper()
	p, ok := s.(prune.Store)
	if !ok {
		t.Skip("the store has no retention")
	}
	rt := prune.NewRetainer(p, r)
	rt.Now = func() time.Time { return retentionNow }
	rt.Pause = 0
	return &retained{t: t, s: s, rt: rt}
}

// add appends a delivery of hook received age ago and brings it to st:
// done, dead, failed, duplicate (of a delivery it makes first), pending
// (no attempt yet), "retrying" (an attempt failed, a retry is due in an
// hour) or "claimed" (a worker holds it).
func (r *retained) add(hook string, age time.Duration, st postbox.State) *postbox.Delivery {
	r.t.Helper()
	received := retentionNow.Add(-age)
	d := NewDelivery(hook, 1)
	d.ID, d.Received = idAt(received), received
	switch st {
	case postbox.StateDone:
		d.Actions = 0
	case postbox.StateDuplicate:
		orig := NewDelivery(hook, 0)
		orig.ID, orig.Received, orig.DedupKey, orig.DedupWindow = idAt(received), received, "dup-"+d.ID, time.Hour
		mustAppend(r.t, r.s, orig)
		d.Actions, d.DedupKey, d.DedupWindow = 0, orig.DedupKey, time.Hour
	}
	mustAppend(r.t, r.s, d)
	if st == postbox.StateDone || st == postbox.StateDuplicate || st == postbox.StatePending {
		if d.State != st {
			r.t.Fatalf("appended %s: state %s, want %s", d.ID, d.State, st)
		}
		return d
	}
	jobs := claim(r.t, r.s, 1000)
	var mine *postbox.Job
	for _, j := range jobs {
		if j.DeliveryID == d.ID {
			mine = j
		} else if err := postbox.Release(context.Background(), r.s, j); err != nil {
			r.t.Fatal(err)
		}
	}
	if mine == nil {
		r.t.Fatalf("the job of %s was not claimed", d.ID)
	}
	switch st {
	case postbox.StateDead, postbox.StateFailed:
		finish(r.t, r.s, mine, postbox.OutcomeFailed, postbox.JobTransition{Next: st})
	case "retrying":
		finish(r.t, r.s, mine, postbox.OutcomeFailed, postbox.JobTransition{Next: postbox.StatePending, RetryAt: time.Now().Add(time.Hour)})
	case "claimed":
	default:
		r.t.Fatalf("no such fixture state %q", st)
	}
	return d
}

// prune runs one pass and fails the test on an error.
func (r *retained) prune() prune.Report {
	r.t.Helper()
	rep, err := r.rt.Prune(context.Background())
	if err != nil {
		r.t.Fatalf("Prune: %v", err)
	}
	return rep
}

// kept fails the test unless every delivery of keep is stored and none of
// gone is.
func (r *retained) kept(keep []*postbox.Delivery, gone []*postbox.Delivery) {
	r.t.Helper()
	for _, d := range keep {
		if _, err := r.s.Delivery(context.Background(), d.ID); err != nil {
			r.t.Errorf("%s (%s, received %s ago) was removed: %v", d.ID, d.HookID, retentionNow.Sub(d.Received).Round(time.Minute), err)
		}
	}
	for _, d := range gone {
		if _, err := r.s.Delivery(context.Background(), d.ID); postbox.ErrorCode(err) != postbox.ENOTFOUND {
			r.t.Errorf("%s (%s, received %s ago) is still stored (%v), want it removed", d.ID, d.HookID, retentionNow.Sub(d.Received).Round(time.Minute), err)
		}
	}
}

const day = 24 * time.Hour

func testRetainAge(t *testing.T, s postbox.Store) {
	r := retain(t, s, prune.Retention{Default: prune.Policy{MaxAge: 30 * day}})
	gone := []*postbox.Delivery{
		r.add("a", 31*day, postbox.StateDone),
		r.add("a", 40*day, postbox.StateFailed),
		r.add("b", 31*day, postbox.StateDuplicate),
	}
	keep := []*postbox.Delivery{
		r.add("a", 29*day, postbox.StateDone),
		r.add("b", time.Hour, postbox.StateFailed),
		r.add("a", 60*day, postbox.StateDead), // no dead_max_age
	}
	rep := r.prune()
	r.kept(keep, gone)
	// The duplicate's first delivery is as old: it goes too.
	if rep.Total != 4 {
		t.Errorf("report: %d removed (%+v), want 4", rep.Total, rep.Removed)
	}
}

func testRetainDeadAge(t *testing.T, s postbox.Store) {
	r := retain(t, s, prune.Retention{Default: prune.Policy{MaxAge: 30 * day, DeadMaxAge: 90 * day}})
	gone := []*postbox.Delivery{r.add("a", 91*day, postbox.StateDead), r.add("a", 31*day, postbox.StateDone)}
	keep := []*postbox.Delivery{r.add("a", 60*day, postbox.StateDead), r.add("a", 89*day, postbox.StateDead)}
	r.prune()
	r.kept(keep, gone)
}

func testRetainCount(t *testing.T, s postbox.Store) {
	r := retain(t, s, prune.Retention{Default: prune.Policy{MaxDeliveries: 3}})
	var all []*postbox.Delivery
	for i := range 6 {
		all = append(all, r.add("a", time.Duration(10-i)*time.Hour, postbox.StateDone))
	}
	other := r.add("b", 20*time.Hour, postbox.StateDone)
	r.prune()
	r.kept(append([]*postbox.Delivery{other}, all[3:]...), all[:3])
	// A pending delivery counts among the newest but is never removed.
	old := r.add("a", 30*time.Hour, postbox.StatePending)
	newer := r.add("a", time.Minute, postbox.StateDone)
	r.prune()
	r.kept([]*postbox.Delivery{old, newer, all[4], all[5]}, []*postbox.Delivery{all[3]})
}

func testRetainPerHook(t *testing.T, s postbox.Store) {
	r := retain(t, s, prune.Retention{
		Default: prune.Policy{MaxAge: 30 * day},
		Hooks: map[string]prune.Policy{
			"short": {MaxAge: time.Hour},
			"kept":  {},
		},
	})
	gone := []*postbox.Delivery{
		r.add("short", 2*time.Hour, postbox.StateDone),
		r.add("gone-from-config", 31*day, postbox.StateDone),
	}
	keep := []*postbox.Delivery{
		r.add("short", 30*time.Minute, postbox.StateDone),
		r.add("kept", 400*day, postbox.StateDone),
		r.add("other", 2*time.Hour, postbox.StateDone),
	}
	r.prune()
	r.kept(keep, gone)
}

func testRetainNeverPending(t *testing.T, s postbox.Store) {
	r := retain(t, s, prune.Retention{Default: prune.Policy{MaxAge: time.Nanosecond, DeadMaxAge: time.Nanosecond, MaxDeliveries: 1}})
	keep := []*postbox.Delivery{
		r.add("a", 400*day, "claimed"),
		r.add("a", 300*day, "retrying"),
		r.add("a", 200*day, postbox.StatePending),
	}
	gone := []*postbox.Delivery{r.add("a", 100*day, postbox.StateDead), r.add("a", 100*day, postbox.StateDone)}
	r.prune()
	r.kept(keep, gone)
	if _, ok := s.(prune.Sizer); ok {
		// Even a store over its size keeps them.
		r.rt.Set(prune.Retention{MaxSize: 1})
		if rep := r.prune(); !rep.Stuck {
			t.Errorf("a store over max_size with only pending deliveries left: report %+v, want Stuck", rep)
		}
		r.kept(keep, nil)
	}
}

func testRetainBatches(t *testing.T, s postbox.Store) {
	r := retain(t, s, prune.Retention{Default: prune.Policy{MaxAge: day}})
	r.rt.Batch = 4
	var gone []*postbox.Delivery
	for i := range 11 {
		gone = append(gone, r.add("a", day+time.Duration(i+1)*time.Minute, postbox.StateDead))
		gone = append(gone, r.add("a", day+time.Duration(i+1)*time.Minute, postbox.StateFailed))
	}
	r.rt.Set(prune.Retention{Default: prune.Policy{MaxAge: day, DeadMaxAge: day}})
	rep := r.prune()
	r.kept(nil, gone)
	if rep.Total != 22 {
		t.Errorf("removed %d in batches of 4, want 22: %+v", rep.Total, rep.Removed)
	}
	// The attempts went with them: a new delivery with an old one's id
	// would otherwise show them.
	d := NewDelivery("a", 1)
	d.ID = gone[0].ID
	mustAppend(t, s, d)
	if got := state(t, s, d.ID); len(got.Attempts) != 0 {
		t.Errorf("a removed delivery's attempts are still stored: %d", len(got.Attempts))
	}
}

func testRetainDedup(t *testing.T, s postbox.Store) {
	r := retain(t, s, prune.Retention{Default: prune.Policy{MaxAge: time.Hour}})
	// Received two hours ago with a day's window: removed by max_age, its
	// key still deduplicates.
	live := NewDelivery("a", 0)
	live.Received = retentionNow.Add(-2 * time.Hour)
	live.ID = idAt(live.Received)
	live.DedupKey, live.DedupWindow = "live", day
	mustAppend(t, s, live)
	expired := NewDelivery("a", 0)
	expired.Received = retentionNow.Add(-3 * time.Hour)
	expired.ID = idAt(expired.Received)
	expired.DedupKey, expired.DedupWindow = "expired", time.Minute
	mustAppend(t, s, expired)
	rep := r.prune()
	r.kept(nil, []*postbox.Delivery{live, expired})
	again := NewDelivery("a", 0)
	again.DedupKey, again.DedupWindow = "live", day
	mustAppend(t, s, again)
	if again.DuplicateOf != live.ID {
		t.Errorf("a repeat of a removed delivery's live key: duplicate of %q, want %q", again.DuplicateOf, live.ID)
	}
	var keys int64
	for _, x := range rep.Removed {
		if x.Rule == prune.RuleDedupKey {
			keys += x.N
		}
	}
	if keys != 1 {
		t.Errorf("the pass removed %d expired dedup keys, want 1: %+v", keys, rep.Removed)
	}
}

func testRetainPlan(t *testing.T, s postbox.Store) {
	r := retain(t, s, prune.Retention{Default: prune.Policy{MaxAge: day, DeadMaxAge: 2 * day}, Hooks: map[string]prune.Policy{"b": {MaxDeliveries: 1}}})
	all := []*postbox.Delivery{
		r.add("a", 2*day, postbox.StateDone), r.add("a", 3*day, postbox.StateDead),
		r.add("b", time.Hour, postbox.StateDone), r.add("b", 2*time.Hour, postbox.StateDone),
		r.add("a", 5*day, postbox.StatePending),
	}
	plan, err := r.rt.Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r.kept(all, nil)
	got := fmt.Sprint(plan.Removed)
	rep := r.prune()
	var removed []prune.Removed
	for _, x := range rep.Removed {
		if x.Rule != prune.RuleDedupKey {
			removed = append(removed, x)
		}
	}
	if want := fmt.Sprint(removed); got != want || plan.Total != 3 {
		t.Errorf("dry run said %s (%d), the prune removed %s", got, plan.Total, want)
	}
	for _, want := range []string{"{a max_age 1}", "{a dead_max_age 1}", "{b max_deliveries 1}"} {
		if !strings.Contains(got, want) {
			t.Errorf("dry run %s lacks %s", got, want)
		}
	}
}

func testRetainSize(t *testing.T, s postbox.Store) {
	sz, ok := s.(prune.Sizer)
	if !ok {
		t.Skip("the store has no size limit")
	}
	ctx := context.Background()
	r := retain(t, s, prune.Retention{})
	body := []byte(strings.Repeat("x", 16<<10))
	var ds []*postbox.Delivery
	for i := range 200 {
		d := NewDelivery("a", 0)
		d.Received = retentionNow.Add(-time.Duration(300-i) * time.Minute)
		d.ID, d.Body = idAt(d.Received), body
		mustAppend(t, s, d)
		ds = append(ds, d)
	}
	pending := r.add("a", 400*time.Minute, postbox.StatePending)
	before, err := sz.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	limit := before.Used / 2
	r.rt.Set(prune.Retention{MaxSize: limit})
	rep := r.prune()
	after, err := sz.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Used > limit {
		t.Errorf("after the prune the store uses %d bytes, over max_size %d (was %d)", after.Used, limit, before.Used)
	}
	if after.Free != 0 {
		t.Errorf("%d bytes of free pages were not given back", after.Free)
	}
	if rep.Total < 50 || rep.Total > 150 {
		t.Errorf("removed %d of 200 deliveries to halve the store", rep.Total)
	}
	// The oldest went, the newest and the pending one stayed.
	r.kept([]*postbox.Delivery{pending, ds[len(ds)-1]}, ds[:rep.Total])
}

func testStoreStats(t *testing.T, s postbox.Store) {
	st, ok := s.(prune.Statser)
	if !ok {
		t.Skip("the store has no stats")
	}
	r := retain(t, s, prune.Retention{})
	old := r.add("a", 3*day, postbox.StateDone)
	r.add("a", time.Hour, postbox.StatePending)
	r.add("b", 2*time.Hour, postbox.StateDead)
	got, err := st.StoreStats(context.Background(), retentionNow)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rows != 3 || got.Last24h != 2 || !got.Oldest.Equal(old.Received) || got.Used <= 0 {
		t.Errorf("stats = %+v, want 3 rows, 2 in the last day, the oldest received %s", got, old.Received)
	}
	per := len(old.Body) + len(old.Path) // header and query as stored are longer
	if len(got.Hooks) != 2 || got.Hooks[0].Hook != "a" || got.Hooks[0].Rows != 2 || got.Hooks[0].Bytes < int64(2*per) ||
		got.Hooks[1].Hook != "b" || got.Hooks[1].Rows != 1 {
		t.Errorf("hooks = %+v", got.Hooks)
	}
	o := got.Outlook(prune.Retention{MaxSize: got.Used + got.Used/got.Rows*2})
	if o.PerDay != 2*(got.Used/got.Rows) || o.FullIn != 24*time.Hour {
		t.Errorf("outlook = per day %d, full in %s; want %d, 24h", o.PerDay, o.FullIn, 2*(got.Used/got.Rows))
	}
}
