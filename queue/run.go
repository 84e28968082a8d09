package queue

import (
	"context"
	"errors"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/postbox/postbox"
)

// claimAhead × workers is how many jobs a pool holds at most, running or
// claimed ahead: while the workers run theirs, the next ones are claimed
// in the store call that records the finished ones, so that a worker waits
// for one commit per job (its attempt's), not two, and a claim brings
// several jobs.
//
// A worker takes its next job only once its attempt is recorded, so that
// no more than one action per worker runs again after a crash.
const claimAhead = 2

// result is what a worker hands back: the attempt to record, or a job to
// hand back unchanged.
type result struct {
	job     *postbox.Job
	hook    string
	done    *postbox.Done
	release *postbox.Job
	ran     bool           // the action ran: res says how it went
	res     postbox.Result // for the destination's breaker
	info    eventInfo
	dest    *dest // nil when the action is gone
	pool    int
}

// eventInfo is what the observer is told of an attempt beyond the attempt.
type eventInfo struct {
	destination string
	received    time.Time
	last        bool
}

// The pools: commands use CPU, calls wait on the network.
const (
	cpuPool = iota
	ioPool
)

// waiting is a job claimed ahead of a free worker.
type waiting struct {
	job      *postbox.Job
	dest     *dest // nil when its action is gone
	pool     int
	deadline time.Time // start it before, or hand it back: see lease
	// slot is the destination's rate slot booked for it, at; nil when
	// none is booked (yet).
	slot *rate.Reservation
	at   time.Time
}

// reply is the answer to one Store.Advance.
type reply struct {
	step    postbox.Step
	infos   []eventInfo // step.Done's
	failed  []error     // step.Done's errors
	again   []bool      // step.Done's that failed but may be recorded later
	claimed []*postbox.Job
	asked   time.Time
	settled [2]int // workers of each pool whose results the call carried
	pool    int    // the pool the claim was for; -1 without a claim
}

// loop is the state of Run, owned by its goroutine.
type loop struct {
	q       *Queue
	rctx    context.Context // for the store: recording outlives shutdown
	wg      sync.WaitGroup  // the workers
	results chan result
	replies chan reply

	waiting  []waiting
	queued   [2]int         // waiting jobs of each pool
	done     []postbox.Done // attempts not yet handed to the store
	infos    []eventInfo    // done's, for the observer
	release  []*postbox.Job // jobs to hand back with the next call
	wakeAt   time.Time      // a wake-up is set for then (a paced or paused destination)
	turn     int            // the pool whose jobs the next claim is for, if it has room
	asking   bool           // a store call is under way
	due      [2]bool        // a job of the pool may be due: claiming could find one
	stopping bool

	// running are the jobs whose actions run, with what stops them (when
	// their lease is lost); renewing is true while a renewal is under way.
	running  map[*postbox.Job]context.CancelCauseFunc
	gone     map[*postbox.Job]bool // running jobs whose lease was lost
	renewing bool
	renewed  chan renewal

	// unrecorded are attempts the store could not record (unreachable,
	// say), sent again at the next poll until a lease has passed since
	// the first failure (failedAt): a short outage repeats no action.
	unrecorded     []postbox.Done
	unrecordedInfo []eventInfo
	failedAt       map[*postbox.Job]time.Time

	// busy counts the workers of each pool taken: running an action, or
	// waiting for its result to be recorded; unsent, those of them whose
	// results wait for the next store call.
	busy, unsent [2]int
	runningHook  map[string]int // actions running per hook
	held         map[string]int // jobs running or waiting per hook
}

// Run works until ctx is done, then lets running actions finish for the
// grace period, stops the rest and hands their jobs back, as well as the
// jobs claimed ahead. It returns nil after a clean shutdown.
//
// One goroutine (this) hands out claimed jobs to workers and keeps at most
// one store call under way; the calls carry everything that accumulated
// meanwhile: finished attempts, jobs to hand back and a claim for the room
// left.
func (q *Queue) Run(ctx context.Context) error {
	// Actions get their own context so that they outlive ctx by the grace.
	actx, stopActions := context.WithCancel(context.WithoutCancel(ctx))
	defer stopActions()
	l := &loop{q: q, rctx: context.WithoutCancel(ctx), results: make(chan result, q.workers+q.io), replies: make(chan reply, 1),
		due: [2]bool{true, true}, runningHook: map[string]int{}, held: map[string]int{},
		running: map[*postbox.Job]context.CancelCauseFunc{}, gone: map[*postbox.Job]bool{}, renewed: make(chan renewal, 1),
		failedAt: map[*postbox.Job]time.Time{}}
	renewer, _ := q.store.(postbox.Renewer)
	var renewTick <-chan time.Time
	if renewer != nil || q.heartbeats() != nil {
		t := time.NewTicker(q.renew)
		defer t.Stop()
		renewTick = t.C
	}
	ticker := time.NewTicker(q.poll)
	defer ticker.Stop()
	// A store shared by several instances tells of work others appended.
	var wake <-chan struct{}
	if w, ok := q.store.(postbox.Waker); ok {
		wake = w.Wake()
	}
	stop := ctx.Done()
	var grace <-chan time.Time
	for {
		l.start(actx)
		l.ask()
		if l.stopping && l.busy == [2]int{} && !l.asking && !l.renewing && len(l.done) == 0 && len(l.release) == 0 && len(l.unrecorded) == 0 {
			l.wg.Wait()
			return nil
		}
		select {
		case <-stop:
			stop = nil
			l.stopping = true
			l.q.dests.mu.Lock()
			for _, w := range l.waiting {
				l.handBack(w)
			}
			l.q.dests.mu.Unlock()
			l.waiting = nil
			t := time.NewTimer(q.grace)
			defer t.Stop()
			grace = t.C
		case <-grace:
			grace = nil
			q.logger.Warn("stopping actions still running after the grace period", "grace", q.grace)
			stopActions()
		case r := <-l.results:
			l.finished(r)
		case r := <-l.replies:
			l.answered(r)
		case <-q.wake:
			l.due = [2]bool{true, true}
		case <-wake:
			l.due = [2]bool{true, true}
		case <-ticker.C:
			l.due = [2]bool{true, true}
			l.done, l.infos = append(l.done, l.unrecorded...), append(l.infos, l.unrecordedInfo...)
			l.unrecorded, l.unrecordedInfo = nil, nil
		case <-renewTick:
			l.renew(renewer)
		case r := <-l.renewed:
			l.lost(r)
		}
	}
}

// start hands waiting jobs to free workers, in the order claimed, within
// their pool, their hook's concurrency and their destination's limits, and
// hands back those that waited too long or whose destination closed.
func (l *loop) start(actx context.Context) {
	if len(l.waiting) == 0 {
		return
	}
	hooks := *l.q.hooks.Load()
	now := time.Now()
	l.q.dests.mu.Lock()
	defer l.q.dests.mu.Unlock()
	kept := l.waiting[:0]
	for _, w := range l.waiting {
		j, d := w.job, w.dest
		h := hooks[j.HookID]
		switch {
		case now.After(w.deadline):
			l.handBack(w)
			continue
		case d != nil && d.blocked(now):
			// Open, paused or probing: its jobs wait in the store, where
			// they take no worker.
			l.handBack(w)
			continue
		case l.busy[w.pool] >= l.q.pool(w.pool == ioPool) || h != nil && h.Concurrency > 0 && l.runningHook[j.HookID] >= h.Concurrency:
			kept = append(kept, w)
			continue
		}
		if d != nil {
			if !d.canStart(now) {
				kept = append(kept, w)
				continue
			}
			if w.slot == nil && d.limiter != nil {
				w.slot, w.at = d.reserve(now)
			}
			if now.Before(w.at) {
				l.wakeIn(now, w.at.Sub(now))
				kept = append(kept, w)
				continue
			}
			d.inFlight++
		}
		l.queued[w.pool]--
		l.busy[w.pool]++
		l.runningHook[j.HookID]++
		jctx, stop := context.WithCancelCause(actx)
		l.running[j] = stop
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			r := l.q.work(jctx, j)
			r.job, r.dest, r.pool = j, d, w.pool
			l.results <- r
		}()
	}
	clear(l.waiting[len(kept):])
	l.waiting = kept
}

// wakeIn makes sure the loop looks again after wait: a paced destination
// may start a call then, or a paused one be tried again.
func (l *loop) wakeIn(now time.Time, wait time.Duration) {
	at := now.Add(wait)
	if !l.wakeAt.IsZero() && l.wakeAt.After(now) && !at.Before(l.wakeAt) {
		return
	}
	l.wakeAt = at
	time.AfterFunc(wait, l.q.Notify)
}

// handBack gives up a job that no worker runs. The caller holds dests.mu.
func (l *loop) handBack(w waiting) {
	l.held[w.job.HookID]--
	l.queued[w.pool]--
	if w.dest != nil {
		w.dest.held--
	}
	if w.slot != nil {
		w.slot.Cancel() // its slot goes to the next job
	}
	l.release = append(l.release, w.job)
}

// ask starts a store call when none is under way and there is something to
// record or hand back, or room to claim jobs that may be due.
func (l *loop) ask() {
	// Not while a renewal is under way either: a job it carries may have
	// finished meanwhile, and its result must go with the token the
	// renewal brings (lost sets it), not the one it replaces.
	if l.asking || l.renewing {
		return
	}
	want := 0
	var skipActions []postbox.ActionRef
	claimFor := -1
	var deferrals []postbox.Deferral
	if !l.stopping && l.due != [2]bool{} {
		// The workers whose results this call carries are free when it
		// returns: claim their next jobs in it too. A claim is for one
		// pool at a time, in turn, and for no more than its destinations
		// may hold: the store cannot tell a command's job from a call's,
		// so a claim for both would fill one pool's room with the other's
		// jobs. The other pool's actions are skipped, and so are those of
		// a destination that is paused or holds all it may.
		now := time.Now()
		l.q.dests.mu.Lock()
		dr := l.q.dests.room(now, l.q.pool)
		var room [2]int
		for p := range room {
			room[p] = claimAhead*l.q.pool(p == ioPool) - (l.busy[p] - l.unsent[p]) - l.queued[p]
			// Jobs of actions no longer configured are never skipped:
			// any claim may bring them (they fail at once).
			room[p] = min(room[p], dr[p])
		}
		for i := range room {
			p := (l.turn + i) % len(room)
			if l.due[p] && room[p] > 0 {
				claimFor = p
				break
			}
		}
		if claimFor >= 0 {
			l.turn = claimFor + 1
			want = room[claimFor]
			skipActions = l.q.dests.skipped(now, func(io bool) bool { return poolOf(io) != claimFor }, l.q.pool)
		}
		if next := l.q.dests.nextChange(); !next.IsZero() {
			l.wakeIn(now, max(next.Sub(now), time.Millisecond))
		}
		deferrals = l.q.dests.deferrals(now)
		l.q.dests.mu.Unlock()
	}
	if want <= 0 && len(l.done) == 0 && len(l.release) == 0 && len(deferrals) == 0 {
		return
	}
	lease, _ := l.q.lease()
	step := postbox.Step{Done: l.done, Release: l.release, Claim: max(want, 0), Lease: lease, Skip: l.skip(), SkipActions: skipActions, Defer: deferrals}
	infos, settled := l.infos, l.unsent
	l.done, l.infos, l.release, l.unsent = nil, nil, nil, [2]int{}
	if step.Claim > 0 {
		// Set again by a wake-up meanwhile, or by a full claim.
		l.due[claimFor] = false
	}
	l.asking = true
	asked := time.Now()
	go func() {
		claimed, failed, err := l.q.store.Advance(l.rctx, step)
		if err != nil {
			failed = l.q.oneByOne(l.rctx, step, err)
		}
		again := make([]bool, len(step.Done))
		for i, d := range step.Done {
			if failed[i] != nil && !errors.Is(failed[i], postbox.ErrFenced) {
				again[i] = true // the loop decides: keep it, or give up
				continue
			}
			l.q.recorded(d, infos[i], failed[i])
		}
		l.replies <- reply{step: step, infos: infos, failed: failed, again: again, claimed: claimed, asked: asked, settled: settled, pool: claimFor}
	}()
}

func poolOf(io bool) int {
	if io {
		return ioPool
	}
	return cpuPool
}

// skip lists the hooks that hold as many jobs as their concurrency allows.
func (l *loop) skip() []string {
	hooks := *l.q.hooks.Load()
	var skip []string
	for id, n := range l.held {
		if h := hooks[id]; h != nil && h.Concurrency > 0 && n >= h.Concurrency {
			skip = append(skip, id)
		}
	}
	return skip
}

// oneByOne records step's attempts and hands back its jobs one at a time,
// after err failed them all at once, so that one bad write costs only its
// own. It returns the error of each attempt.
func (q *Queue) oneByOne(ctx context.Context, step postbox.Step, err error) []error {
	if len(step.Done)+len(step.Release) == 0 {
		q.logger.Error("claim jobs failed", "err", err)
		return nil
	}
	q.logger.Error("recording attempts failed; trying one by one", "err", err, "attempts", len(step.Done), "released", len(step.Release))
	failed := make([]error, len(step.Done))
	for i, d := range step.Done {
		failed[i] = postbox.Finish(ctx, q.store, d.Job, d.Attempt, d.Next)
	}
	for _, j := range step.Release {
		q.release(ctx, j)
	}
	return failed
}

// finished takes a worker's result, to hand to the next store call. The
// worker stays busy until the call returns.
func (l *loop) finished(r result) {
	if stop, ok := l.running[r.job]; ok {
		stop(nil)
		delete(l.running, r.job)
	}
	if l.gone[r.job] {
		// Another claim holds it now: nothing of this run is recorded
		// nor handed back, and its worker is free at once (no store call
		// will carry its result).
		delete(l.gone, r.job)
		r.done, r.release = nil, nil
		l.busy[r.pool]--
	} else {
		l.unsent[r.pool]++
	}
	l.runningHook[r.hook]--
	l.held[r.hook]--
	if r.done != nil {
		l.done = append(l.done, *r.done)
		l.infos = append(l.infos, r.info)
	}
	if r.release != nil {
		l.release = append(l.release, r.release)
	}
	if d := r.dest; d != nil {
		l.q.dests.mu.Lock()
		d.inFlight--
		d.held--
		opened := r.ran && d.outcome(time.Now(), r.res)
		state, until, failures := d.state, d.until, d.failures
		l.q.dests.mu.Unlock()
		if opened {
			l.q.logger.Warn("destination failing; its circuit breaker is open, its jobs wait in the store",
				"destination", d.name, "failures", failures, "until", until, "err", r.res.Err)
		} else if state == Paused && r.ran && r.res.Outcome != postbox.OutcomeOK {
			l.q.logger.Info("destination asked to wait; paused", "destination", d.name, "until", until, "status", r.res.Status)
		}
	}
}

// answered keeps the claimed jobs for free workers, or hands back those
// beyond a hook's concurrency or what their destination may hold (one
// claim may bring more of a hook or a destination than it may run).
func (l *loop) answered(r reply) {
	l.asking = false
	for p := range l.busy {
		l.busy[p] -= r.settled[p]
	}
	l.keepUnrecorded(r)
	if len(r.step.Done) > 0 {
		// Finished jobs may have made others due: their next action, or
		// the next delivery with their key, of either pool.
		l.due = [2]bool{true, true}
	}
	if r.step.Claim > 0 && len(r.claimed) >= r.step.Claim {
		l.due[r.pool] = true // there may be more
	}
	_, wait := l.q.lease()
	hooks := *l.q.hooks.Load()
	l.q.dests.mu.Lock()
	defer l.q.dests.mu.Unlock()
	for _, j := range r.claimed {
		d := l.q.dests.of(j)
		w := waiting{job: j, dest: d, pool: cpuPool, deadline: r.asked.Add(wait)}
		if d != nil {
			w.pool = poolOf(d.io)
			d.held++
		}
		l.held[j.HookID]++
		l.queued[w.pool]++
		if h := hooks[j.HookID]; l.stopping || h != nil && h.Concurrency > 0 && l.held[j.HookID] > h.Concurrency ||
			d != nil && d.held > d.maxHeld(l.q.pool(d.io)) {
			l.handBack(w)
			continue
		}
		l.waiting = append(l.waiting, w)
	}
}

// keepUnrecorded keeps the attempts of r that the store could not record,
// to send them again at the next poll, for as long as a lease since their
// first failure; then it gives up on them (their jobs run again once their
// leases end).
func (l *loop) keepUnrecorded(r reply) {
	now := time.Now()
	for i, d := range r.step.Done {
		first, failedBefore := l.failedAt[d.Job]
		if !r.again[i] {
			delete(l.failedAt, d.Job)
			continue
		}
		if !failedBefore {
			first = now
			l.failedAt[d.Job] = now
			l.q.jobLogger(d.Job).Warn("recording the attempt failed; it is kept and sent again", "err", r.failed[i])
		}
		if now.Sub(first) >= l.q.leaseFor || l.stopping && failedBefore {
			delete(l.failedAt, d.Job)
			l.q.recorded(d, r.infos[i], r.failed[i])
			continue
		}
		l.unrecorded = append(l.unrecorded, d)
		l.unrecordedInfo = append(l.unrecordedInfo, r.infos[i])
	}
}

// renewal is the answer to one Renewer.Renew.
type renewal struct {
	jobs   []*postbox.Job
	leases []int64
	err    error
}

// renew extends the leases of every job the queue holds, running or
// waiting, in the background; lost takes the answer.
func (l *loop) renew(r postbox.Renewer) {
	if l.renewing {
		return
	}
	jobs := make([]*postbox.Job, 0, len(l.running)+len(l.waiting))
	for j := range l.running {
		jobs = append(jobs, j)
	}
	for _, w := range l.waiting {
		jobs = append(jobs, w.job)
	}
	for _, d := range l.unrecorded {
		jobs = append(jobs, d.Job) // held until recorded
	}
	hb := l.q.heartbeats()
	if len(jobs) == 0 && hb == nil || r == nil && hb == nil {
		return
	}
	l.renewing = true
	go func() {
		// A store that does not answer within a lease cannot save the
		// leases anyway; the next tick tries again.
		ctx, cancel := context.WithTimeout(l.rctx, l.q.leaseFor)
		defer cancel()
		if hb != nil {
			// The instance says it is alive with each renewal.
			if err := hb.Heartbeat(ctx, l.q.instance); err != nil {
				l.q.logger.Warn("instance heartbeat failed", "err", err)
			}
		}
		if r == nil || len(jobs) == 0 {
			l.renewed <- renewal{}
			return
		}
		leases, err := r.Renew(ctx, jobs, l.q.leaseFor)
		l.renewed <- renewal{jobs: jobs, leases: leases, err: err}
	}()
}

// heartbeats is the store to send the instance's heartbeats to, or nil.
func (q *Queue) heartbeats() postbox.Registry {
	if r, ok := q.store.(postbox.Registry); ok && q.instance != "" {
		return r
	}
	return nil
}

// lost follows up on a renewal: the jobs still held keep their new tokens
// (set here, in the loop, so that no store call in flight reads a token
// being written). A job whose lease another claim took over (this process
// stalled past its lease) is not this queue's any more: its action is
// stopped where it runs, and a waiting one is dropped, not handed back,
// since the new holder has it.
func (l *loop) lost(r renewal) {
	l.renewing = false
	if r.err != nil {
		l.q.logger.Error("renewing leases failed; they run out unless the next renewal succeeds", "err", r.err)
		return
	}
	waiting := make(map[*postbox.Job]bool, len(l.waiting))
	for _, w := range l.waiting {
		waiting[w.job] = true
	}
	lost := map[*postbox.Job]bool{}
	for i, j := range r.jobs {
		if r.leases[i] != 0 {
			// Also for a job that finished or was handed back meanwhile:
			// its result waits for the next store call (none was made
			// while renewing), which presents this token.
			j.Lease = r.leases[i]
			continue
		}
		l.q.fenced.renew.Add(1)
		_, running := l.running[j]
		if !running && !waiting[j] {
			// Its result waits for the next store call, which the store
			// refuses (fenced).
			continue
		}
		lost[j] = true
		l.q.jobLogger(j).Warn("lease lost to another claim; the action is stopped and its result will not count")
		if stop, ok := l.running[j]; ok {
			l.gone[j] = true
			stop(errLeaseLost)
		}
	}
	if len(lost) == 0 {
		return
	}
	l.q.dests.mu.Lock()
	defer l.q.dests.mu.Unlock()
	kept := l.waiting[:0]
	for _, w := range l.waiting {
		if !lost[w.job] {
			kept = append(kept, w)
			continue
		}
		l.held[w.job.HookID]--
		l.queued[w.pool]--
		if w.dest != nil {
			w.dest.held--
		}
		if w.slot != nil {
			w.slot.Cancel()
		}
	}
	clear(l.waiting[len(kept):])
	l.waiting = kept
}
