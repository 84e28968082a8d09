package queue

import (
	"errors"
	"slices"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/postbox/postbox"
)

// Defaults of a destination's Policy.
const (
	// DefaultIOWorkers is how many I/O-bound actions (http, mqtt) run at
	// once unless Options.IOWorkers says otherwise. A call that waits for
	// an answer costs a goroutine and a connection, not a CPU: 256 keep
	// 2,000 calls a second to a 20 ms endpoint flowing (40 in flight)
	// with room for slow ones.
	DefaultIOWorkers = 256
	// DefaultConcurrency caps the calls to one I/O destination at once:
	// one slow destination cannot take more than a quarter of the pool.
	DefaultConcurrency = 64
	// DefaultFailures is how many failures in a row open a destination's
	// circuit breaker.
	DefaultFailures = 5
	// DefaultCooldown is how long a breaker stays open the first time
	// before one probe is let through; it doubles after each failed probe,
	// up to DefaultMaxCooldown.
	DefaultCooldown    = 5 * time.Second
	DefaultMaxCooldown = 5 * time.Minute
	// maxPause bounds how long a Retry-After (or a 429) pauses a destination.
	maxPause = time.Hour
)

// Policy is how the queue treats the calls to one destination. The zero
// value means the defaults.
type Policy struct {
	// Concurrency caps its calls at once; 0 means DefaultConcurrency for
	// I/O destinations and no cap but the CPU pool's for commands.
	Concurrency int
	// Rate caps its calls per second; 0 means no limit. Burst is how many
	// may go at once after a quiet spell; 0 means 1.
	Rate  float64
	Burst int
	// Failures in a row open its circuit breaker; 0 means DefaultFailures
	// and a negative number never opens it. Commands have no breaker: a
	// command that fails says nothing about the next delivery.
	Failures int
	// Cooldown is how long an open breaker waits before a probe; 0 means
	// DefaultCooldown. It doubles after each failed probe, up to
	// MaxCooldown (0 means DefaultMaxCooldown).
	Cooldown, MaxCooldown time.Duration
}

func (p Policy) withDefaults(io bool) Policy {
	if p.Concurrency <= 0 && io {
		p.Concurrency = DefaultConcurrency
	}
	if p.Failures == 0 {
		p.Failures = DefaultFailures
	}
	if !io {
		p.Failures = -1
	}
	if p.Cooldown <= 0 {
		p.Cooldown = DefaultCooldown
	}
	if p.MaxCooldown <= 0 {
		p.MaxCooldown = DefaultMaxCooldown
	}
	p.MaxCooldown = max(p.MaxCooldown, p.Cooldown)
	if p.Rate > 0 && p.Burst <= 0 {
		p.Burst = 1
	}
	return p
}

// Breaker states, as the admin API and metrics show them.
const (
	Closed   = "closed"    // calls flow
	Open     = "open"      // paused after failures; a probe goes at the end of the cooldown
	HalfOpen = "half-open" // one probe is under way
	Paused   = "paused"    // the destination asked to wait (429, Retry-After)
)

// DestinationStatus is what an operator sees of one destination.
type DestinationStatus struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind"` // "io" or "cpu"
	State    string    `json:"state"`
	Until    time.Time `json:"until,omitzero"` // when an open or paused one is tried again
	InFlight int       `json:"in_flight"`
	Held     int       `json:"held"` // claimed from the store: running or about to
	Limit    int       `json:"limit"`
	Rate     float64   `json:"rate,omitempty"`
	Failures int       `json:"consecutive_failures"`
	OK       uint64    `json:"ok"`
	Failed   uint64    `json:"failed"`
	Opened   uint64    `json:"opened"` // times its breaker opened
	LastErr  string    `json:"last_error,omitempty"`
}

// ErrUnknownDestination is returned by Resume for a name no action uses.
var ErrUnknownDestination = errors.New("no such destination")

// dest is the queue's state of one destination. The run loop changes it;
// the admin API reads it: both under destinations.mu.
type dest struct {
	name    string
	io      bool
	policy  Policy
	limiter *rate.Limiter // nil without a rate

	inFlight, held int
	state          string
	failures       int
	cooldown       time.Duration
	until          time.Time // end of the cooldown (Open) or of the pause (Paused)
	ok, failed     uint64
	opened         uint64
	lastErr        string
	// deferred is the until its waiting jobs were last moved to in the
	// store, at deferredAt; undefer asks to make them due now.
	deferred, deferredAt time.Time
	undefer              bool
}

// destinations is every destination the hooks' actions talk to, and which
// of their actions talk to each.
type destinations struct {
	mu       sync.Mutex
	policies map[string]Policy // by destination name; "*" for the rest
	byName   map[string]*dest
	byAction map[postbox.ActionRef]*dest
	refs     map[*dest][]postbox.ActionRef
}

func newDestinations(policies map[string]Policy) *destinations {
	return &destinations{policies: policies, byName: map[string]*dest{}}
}

// setHooks maps the hooks' actions to their destinations, keeping the state
// of those that stay.
func (ds *destinations) setHooks(hooks []*postbox.Hook) {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	byName := map[string]*dest{}
	ds.byAction = map[postbox.ActionRef]*dest{}
	ds.refs = map[*dest][]postbox.ActionRef{}
	for _, h := range hooks {
		for i, a := range h.Actions {
			d := destinationOf(h, a)
			st := byName[d.Name]
			if st == nil {
				st = ds.byName[d.Name]
				if st == nil || st.io != d.IO {
					st = ds.newDest(d)
				}
				byName[d.Name] = st
			}
			ref := postbox.ActionRef{Hook: h.ID, Action: i}
			ds.byAction[ref] = st
			ds.refs[st] = append(ds.refs[st], ref)
		}
	}
	ds.byName = byName
}

// destinationOf names what a's calls go to; an action that does not say is
// a destination of its own, in the CPU pool.
func destinationOf(h *postbox.Hook, a postbox.Action) postbox.Destination {
	if d, ok := a.(postbox.Destined); ok {
		return d.Destination()
	}
	return postbox.Destination{Name: a.Kind() + ":" + h.ID}
}

func (ds *destinations) newDest(d postbox.Destination) *dest {
	p, ok := ds.policies[d.Name]
	if !ok {
		p = ds.policies["*"]
	}
	p = p.withDefaults(d.IO)
	st := &dest{name: d.Name, io: d.IO, policy: p, state: Closed, cooldown: p.Cooldown}
	if p.Rate > 0 {
		st.limiter = rate.NewLimiter(rate.Limit(p.Rate), p.Burst)
	}
	return st
}

// of returns the destination of a job, nil when its action is gone.
func (ds *destinations) of(j *postbox.Job) *dest {
	return ds.byAction[postbox.ActionRef{Hook: j.HookID, Action: j.Action}]
}

// maxHeld is how many jobs of d the queue holds at once: claimAhead calls
// for each one that may run, and for a paced destination no more than
// five seconds' worth, so that jobs claimed ahead start within their wait.
// A half-open one holds its one probe.
func (d *dest) maxHeld(pool int) int {
	if d.state == HalfOpen {
		return 1
	}
	n := claimAhead * pool
	if d.policy.Concurrency > 0 {
		n = min(n, claimAhead*d.policy.Concurrency)
	}
	if d.policy.Rate > 0 {
		n = min(n, max(d.policy.Burst, int(d.policy.Rate*5)))
	}
	return max(n, 1)
}

// refresh moves an open breaker whose cooldown is over to half-open, and
// ends a pause that is over.
func (d *dest) refresh(now time.Time) {
	switch {
	case d.state == Paused && !now.Before(d.until):
		d.state, d.until = Closed, time.Time{}
	case d.state == Open && !now.Before(d.until):
		d.state = HalfOpen
	}
}

// blocked says whether no call to d may start now: open or paused, or a
// probe is already under way.
func (d *dest) blocked(now time.Time) bool {
	d.refresh(now)
	switch d.state {
	case Open, Paused:
		return true
	case HalfOpen:
		return d.inFlight > 0
	}
	return false
}

// canStart says whether one more call to d may start now, its rate aside
// (see reserve).
func (d *dest) canStart(now time.Time) bool {
	return !d.blocked(now) && (d.policy.Concurrency <= 0 || d.inFlight < d.policy.Concurrency)
}

// reserve books the next slot of d's rate for one call and says when it
// is: now when the destination has no rate. Booking ahead, rather than
// asking again until a token is there, keeps the pace exact however late
// the queue looks: with a burst of 1 a token cannot be saved up, so each
// late look would stretch the interval.
func (d *dest) reserve(now time.Time) (*rate.Reservation, time.Time) {
	if d.limiter == nil {
		return nil, now
	}
	r := d.limiter.ReserveN(now, 1)
	return r, now.Add(r.DelayFrom(now))
}

// outcome updates d's breaker after a call: a success closes it; a failure
// that a retry could fix counts towards opening it; a 429 or a Retry-After
// pauses it for that long instead. Failures that are the payload's (a
// permanent one, such as a 4xx) say nothing about the destination.
func (d *dest) outcome(now time.Time, res postbox.Result) (opened bool) {
	d.refresh(now)
	if d.state == Open {
		// A call that started before the breaker opened (up to the
		// concurrency were in flight) says nothing new: only the probe
		// after the cooldown may close it.
		if res.Outcome == postbox.OutcomeOK {
			d.ok++
		} else {
			d.failed++
		}
		return false
	}
	if res.Outcome == postbox.OutcomeOK {
		d.ok++
		d.failures, d.cooldown = 0, d.policy.Cooldown
		if d.state != Paused {
			d.state = Closed
		}
		return false
	}
	d.failed++
	if res.Err != nil {
		d.lastErr = res.Err.Error()
	}
	if res.Permanent {
		if d.state == HalfOpen {
			d.state = Closed // it answered
		}
		return false
	}
	if res.Status == 429 || res.RetryAfter > 0 {
		pause := min(max(res.RetryAfter, time.Second), maxPause)
		d.state, d.until = Paused, now.Add(pause)
		return false
	}
	d.failures++
	switch {
	case d.state == HalfOpen:
		d.cooldown = min(2*d.cooldown, d.policy.MaxCooldown)
	case d.policy.Failures > 0 && d.failures >= d.policy.Failures && d.state == Closed:
	default:
		return false
	}
	d.state, d.until = Open, now.Add(d.cooldown)
	d.opened++
	return true
}

// skipped lists the actions whose jobs the next claim must leave in the
// store: those of destinations that are blocked or hold all they may, and
// of pools that are full.
func (ds *destinations) skipped(now time.Time, full func(io bool) bool, pool func(io bool) int) []postbox.ActionRef {
	var skip []postbox.ActionRef
	for d, refs := range ds.refs {
		if full(d.io) || d.blocked(now) || d.held >= d.maxHeld(pool(d.io)) {
			skip = append(skip, refs...)
		}
	}
	return skip
}

// room is, for each pool, how many more jobs its destinations may hold: a
// claim asks for no more, so that it does not bring jobs that would only
// wait (and be handed back) while the room they took stays empty for
// others.
func (ds *destinations) room(now time.Time, pool func(io bool) int) [2]int {
	var room [2]int
	for d := range ds.refs {
		if !d.blocked(now) {
			room[poolOf(d.io)] += max(d.maxHeld(pool(d.io))-d.held, 0)
		}
	}
	return room
}

// nextChange is the earliest time a blocked destination may take calls
// again, zero when none waits.
func (ds *destinations) nextChange() time.Time {
	var next time.Time
	for _, d := range ds.byName {
		if (d.state == Open || d.state == Paused) && (next.IsZero() || d.until.Before(next)) {
			next = d.until
		}
	}
	return next
}

// status lists the destinations, by name.
func (ds *destinations) status(now time.Time, pool func(io bool) int) []DestinationStatus {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	out := make([]DestinationStatus, 0, len(ds.byName))
	for _, d := range ds.byName {
		d.refresh(now)
		s := DestinationStatus{Name: d.name, Kind: "cpu", State: d.state, InFlight: d.inFlight, Held: d.held,
			Limit: d.policy.Concurrency, Rate: d.policy.Rate, Failures: d.failures, OK: d.ok, Failed: d.failed,
			Opened: d.opened, LastErr: d.lastErr}
		if d.io {
			s.Kind = "io"
		}
		if s.Limit <= 0 {
			s.Limit = pool(d.io)
		}
		if d.state == Open || d.state == Paused {
			s.Until = d.until
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b DestinationStatus) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

// resume closes the breaker of the named destination and ends its pause.
func (ds *destinations) resume(name string) error {
	ds.mu.Lock()
	defer ds.mu.Unlock()
	d := ds.byName[name]
	if d == nil {
		return ErrUnknownDestination
	}
	d.state, d.until, d.failures, d.cooldown = Closed, time.Time{}, 0, d.policy.Cooldown
	d.undefer, d.deferred = true, time.Time{}
	return nil
}

// deferrals are what the next store call moves: the waiting jobs of open
// or paused destinations to the end of their wait (again each second, for
// jobs that arrived since), so that claims need not step over them, and
// those of destinations resumed by hand back to now.
func (ds *destinations) deferrals(now time.Time) []postbox.Deferral {
	var out []postbox.Deferral
	for d, refs := range ds.refs {
		var until time.Time
		switch {
		case d.undefer:
			d.undefer = false
		case (d.state == Open || d.state == Paused) && d.until.After(now) &&
			(!d.deferred.Equal(d.until) || now.Sub(d.deferredAt) >= time.Second):
			until = d.until
			d.deferred, d.deferredAt = d.until, now
		default:
			continue
		}
		for _, ref := range refs {
			out = append(out, postbox.Deferral{Action: ref, Until: until})
		}
	}
	return out
}
