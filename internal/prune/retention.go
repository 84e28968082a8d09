package prune

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/postbox/postbox"
)

// Policy is how long one hook's deliveries are kept. A zero field sets no
// limit. Only settled deliveries (done, failed, dead, duplicate) are ever
// removed: a pending one, with work left, stays whatever its age.
type Policy struct {
	// MaxAge removes done, failed and duplicate deliveries received longer
	// ago than this.
	MaxAge time.Duration
	// DeadMaxAge removes dead deliveries received longer ago than this:
	// they are the ones an operator comes back for, so they have an age
	// of their own.
	DeadMaxAge time.Duration
	// MaxDeliveries keeps the hook's newest this many deliveries (pending
	// ones count, and stay) and removes older settled ones.
	MaxDeliveries int
}

// Retention is the whole store's policy: Default for every hook that has
// none of its own in Hooks (a hook no longer configured included), and a
// size for the SQLite file. The zero value keeps everything.
type Retention struct {
	Default Policy
	Hooks   map[string]Policy // resolved: every field set, defaults filled in
	// MaxSize is the most bytes the SQLite database may hold; the oldest
	// settled deliveries of any hook go until it is under. 0: no limit.
	MaxSize int64
	// Interval is how often the limits are checked; 0 means
	// RetentionEvery.
	Interval time.Duration
}

// For returns the policy of hook.
func (r Retention) For(hook string) Policy {
	if p, ok := r.Hooks[hook]; ok {
		return p
	}
	return r.Default
}

// None says whether r removes nothing.
func (r Retention) None() bool {
	if r.Default != (Policy{}) || r.MaxSize > 0 {
		return false
	}
	for _, p := range r.Hooks {
		if p != (Policy{}) {
			return false
		}
	}
	return true
}

// Cut names settled deliveries (with no job) for a delete or a count.
// Every field narrows it; the zero value is every settled delivery.
type Cut struct {
	Hook     string        // only this hook, when not empty
	State    postbox.State // only this settled state, when not empty
	Received time.Time     // only those received before, when not zero
	Before   string        // only ids sorting before this one, when not empty
}

// Store is what retention needs of a store: narrow primitives, the policy
// being here. Both stores implement it.
type Store interface {
	// StoredHooks lists the hooks that have deliveries in the store.
	StoredHooks(ctx context.Context) ([]string, error)
	// DeleteDeliveries deletes up to limit of the deliveries c names,
	// oldest first, in one write, with their attempts, and returns how
	// many it deleted. It never deletes a delivery that has a job.
	DeleteDeliveries(ctx context.Context, c Cut, limit int) (int64, error)
	// CountDeliveries counts the deliveries c names (for a dry run).
	CountDeliveries(ctx context.Context, c Cut) (int64, error)
	// NthNewest returns the id of hook's nth newest delivery (any state),
	// or "" when it has fewer.
	NthNewest(ctx context.Context, hook string, n int) (string, error)
	// PruneDedup deletes the dedup keys that expired before t.
	PruneDedup(ctx context.Context, t time.Time) (int64, error)
}

// Sizer is a store whose size retention bounds (SQLite).
type Sizer interface {
	// Size says how big the store is now.
	Size(ctx context.Context) (Size, error)
	// Reclaim gives the space of deleted rows back to the disk, a little
	// at a time.
	Reclaim(ctx context.Context) error
}

// Size is how much disk a store uses, in bytes.
type Size struct {
	Used int64 `json:"used"` // pages holding data: what max_size bounds
	Free int64 `json:"free"` // pages deleted rows left, not yet given back to the disk
	WAL  int64 `json:"wal"`  // the write-ahead log beside the file
}

// File is the database file's size (Used + Free).
func (s Size) File() int64 { return s.Used + s.Free }

// Rule names what removed a delivery, in Reports.
type Rule string

// The rules of a Policy and of Retention.MaxSize.
const (
	RuleAge      Rule = "max_age"
	RuleDeadAge  Rule = "dead_max_age"
	RuleCount    Rule = "max_deliveries"
	RuleSize     Rule = "max_size"
	RuleDedupKey Rule = "dedup_window"
)

// Removed is what one rule removed (or, in a dry run, would remove) of
// one hook's deliveries; Hook is empty for max_size and expired dedup keys.
type Removed struct {
	Hook string `json:"hook,omitempty"`
	Rule Rule   `json:"rule"`
	N    int64  `json:"n"`
}

// Report is what one pass did.
type Report struct {
	Removed  []Removed     `json:"removed"`
	Total    int64         `json:"total"` // deliveries removed (dedup keys not counted)
	Duration time.Duration `json:"duration_ns"`
	// Stuck, when set, says that max_size could not be reached because
	// only deliveries with work left remain.
	Stuck bool `json:"stuck,omitempty"`
}

func (r *Report) add(hook string, rule Rule, n int64) {
	if n == 0 {
		return
	}
	r.Removed = append(r.Removed, Removed{Hook: hook, Rule: rule, N: n})
	if rule != RuleDedupKey {
		r.Total += n
	}
}

// RetentionEvery is how often a Retainer checks the limits by default:
// a limit passed is acted on within a minute.
const RetentionEvery = 30 * time.Second

// DeliveryBatch is how many deliveries one delete removes at most: small
// enough that a write shared with ingest stays short.
const DeliveryBatch = 200

// Retainer applies a Retention to a store, in batches. Create it with
// NewRetainer; its zero value is not usable.
type Retainer struct {
	store Store
	ret   atomic.Pointer[Retention]
	// Now is the clock; tests set it.
	Now func() time.Time
	// Batch is the deliveries one write deletes at most; 0 means
	// DeliveryBatch.
	Batch int
	// Pause is how long the retainer waits between two deletes, so that
	// a long prune takes a small share of the store's writes.
	Pause time.Duration
	// Observe, when set, is called after every pass (for metrics).
	Observe func(Report)
	// Logger receives what each pass removed; nil discards it.
	Logger *slog.Logger
}

// NewRetainer returns a Retainer of s under r.
func NewRetainer(s Store, r Retention) *Retainer {
	rt := &Retainer{store: s, Now: time.Now, Pause: 2 * time.Millisecond}
	rt.Set(r)
	return rt
}

// Set replaces the retention (a reloaded configuration).
func (rt *Retainer) Set(r Retention) { rt.ret.Store(&r) }

// Retention returns the retention in force.
func (rt *Retainer) Retention() Retention { return *rt.ret.Load() }

// Run applies the retention every Interval until ctx ends.
func (rt *Retainer) Run(ctx context.Context) {
	every := rt.Retention().Interval
	if every <= 0 {
		every = RetentionEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if _, err := rt.Prune(ctx); err != nil && ctx.Err() == nil && rt.Logger != nil {
				rt.Logger.Warn("pruning deliveries failed; retrying later", "err", err)
			}
		case <-ctx.Done():
			return
		}
	}
}

// Prune runs one pass: per stored hook, its age, dead age and count
// rules; then the store's size; then expired dedup keys; then gives the
// space back. It returns what it removed, so far on an error.
func (rt *Retainer) Prune(ctx context.Context) (Report, error) {
	start := time.Now()
	rep, err := rt.pass(ctx, false)
	rep.Duration = time.Since(start)
	if rt.Observe != nil {
		rt.Observe(rep)
	}
	if rt.Logger != nil && rep.Total > 0 {
		rt.Logger.Info("pruned deliveries", "removed", rep.Total, "by", rep.summary(), "took", rep.Duration.Round(time.Millisecond))
	}
	if rt.Logger != nil && rep.Stuck {
		rt.Logger.Warn("the store is over retention.max_size, and only deliveries with work left remain; they are never pruned")
	}
	return rep, err
}

// Plan counts what a pass would remove, removing nothing (a dry run). A
// delivery that two rules name is counted under each; max_size is an
// estimate from the store's average delivery.
func (rt *Retainer) Plan(ctx context.Context) (Report, error) {
	return rt.pass(ctx, true)
}

func (rep Report) summary() string {
	var parts []string
	for _, r := range rep.Removed {
		if r.Hook != "" {
			parts = append(parts, fmt.Sprintf("%s %s %d", r.Hook, r.Rule, r.N))
		} else {
			parts = append(parts, fmt.Sprintf("%s %d", r.Rule, r.N))
		}
	}
	return strings.Join(parts, ", ")
}

// settledStates are the states max_age applies to; dead has its own age.
var settledStates = []postbox.State{postbox.StateDone, postbox.StateFailed, postbox.StateDuplicate}

func (rt *Retainer) pass(ctx context.Context, dry bool) (Report, error) {
	var rep Report
	ret := rt.Retention()
	now := rt.Now()
	hooks, err := rt.store.StoredHooks(ctx)
	if err != nil {
		return rep, fmt.Errorf("prune: %w", err)
	}
	sort.Strings(hooks)
	for _, h := range hooks {
		p := ret.For(h)
		if p.MaxAge > 0 {
			var n int64
			for _, st := range settledStates {
				m, err := rt.remove(ctx, dry, Cut{Hook: h, State: st, Received: now.Add(-p.MaxAge)})
				n += m
				if err != nil {
					rep.add(h, RuleAge, n)
					return rep, err
				}
			}
			rep.add(h, RuleAge, n)
		}
		if p.DeadMaxAge > 0 {
			n, err := rt.remove(ctx, dry, Cut{Hook: h, State: postbox.StateDead, Received: now.Add(-p.DeadMaxAge)})
			rep.add(h, RuleDeadAge, n)
			if err != nil {
				return rep, err
			}
		}
		if p.MaxDeliveries > 0 {
			// Every delivery before the newest MaxDeliveries, pending ones
			// aside.
			cut, err := rt.store.NthNewest(ctx, h, p.MaxDeliveries)
			if err != nil {
				return rep, fmt.Errorf("prune: %w", err)
			}
			if cut != "" {
				n, err := rt.remove(ctx, dry, Cut{Hook: h, Before: cut})
				rep.add(h, RuleCount, n)
				if err != nil {
					return rep, err
				}
			}
		}
	}
	if ret.MaxSize > 0 {
		if err := rt.shrink(ctx, dry, ret.MaxSize, &rep); err != nil {
			return rep, err
		}
	}
	if dry {
		return rep, nil
	}
	n, err := rt.store.PruneDedup(ctx, now.Add(-Slack))
	rep.add("", RuleDedupKey, n)
	if err != nil {
		return rep, fmt.Errorf("prune dedup keys: %w", err)
	}
	if s, ok := rt.store.(Sizer); ok && rep.Total > 0 {
		if err := s.Reclaim(ctx); err != nil {
			return rep, fmt.Errorf("reclaim space: %w", err)
		}
	}
	return rep, nil
}

// remove deletes (or counts) the deliveries c names, a batch per write
// with a pause between, and returns how many.
func (rt *Retainer) remove(ctx context.Context, dry bool, c Cut) (int64, error) {
	if dry {
		n, err := rt.store.CountDeliveries(ctx, c)
		if err != nil {
			return 0, fmt.Errorf("prune: %w", err)
		}
		return n, nil
	}
	batch := rt.batch()
	var total int64
	for {
		t0 := time.Now()
		n, err := rt.store.DeleteDeliveries(ctx, c, batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("prune: %w", err)
		}
		if n < int64(batch) {
			return total, nil
		}
		if err := rt.pause(ctx, time.Since(t0)); err != nil {
			return total, err
		}
	}
}

func (rt *Retainer) batch() int {
	if rt.Batch > 0 {
		return rt.Batch
	}
	return DeliveryBatch
}

// pause waits between two deletes: Pause, or as long as the last delete
// took (took) when that is longer, so that a prune has at most half of a
// store's writes however slow the disk.
func (rt *Retainer) pause(ctx context.Context, took time.Duration) error {
	if rt.Pause <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(max(rt.Pause, took))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lowWater is the share of max_size a store over it is brought down to, so
// that it is not pruned again at the next delivery.
const lowWater = 0.9

// shrink removes the oldest settled deliveries of any hook until the
// store's used bytes are under lowWater × limit, sizing each batch by the
// average settled delivery so that no more goes than needs to.
func (rt *Retainer) shrink(ctx context.Context, dry bool, limit int64, rep *Report) error {
	s, ok := rt.store.(Sizer)
	if !ok {
		return nil
	}
	size, err := s.Size(ctx)
	if err != nil {
		return fmt.Errorf("prune: size: %w", err)
	}
	if size.Used <= limit {
		return nil
	}
	settled, err := rt.store.CountDeliveries(ctx, Cut{})
	if err != nil {
		return fmt.Errorf("prune: %w", err)
	}
	target := int64(float64(limit) * lowWater)
	// Pending deliveries make this an overestimate: batches come out
	// smaller, never larger, than needed.
	avg := max(size.Used/max(settled, 1), 1)
	if dry {
		want := (size.Used-target)/avg + 1
		rep.add("", RuleSize, min(want, settled))
		rep.Stuck = settled < want
		return nil
	}
	var removed int64
	defer func() { rep.add("", RuleSize, removed) }()
	for size.Used > target {
		want := int((size.Used-target)/avg) + 1
		t0 := time.Now()
		n, err := rt.store.DeleteDeliveries(ctx, Cut{}, min(want, rt.batch()))
		removed += n
		if err != nil {
			return fmt.Errorf("prune: %w", err)
		}
		if n == 0 {
			rep.Stuck = true
			return nil
		}
		if err := rt.pause(ctx, time.Since(t0)); err != nil {
			return err
		}
		if size, err = s.Size(ctx); err != nil {
			return fmt.Errorf("prune: size: %w", err)
		}
	}
	return nil
}
