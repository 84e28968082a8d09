package queue

import (
	"context"
	"sync"
	"time"

	"github.com/postbox/postbox"
)

// claimAhead × workers is how many jobs a queue holds at most, running or
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
	hook    string
	done    *postbox.Done
	release *postbox.Job
}

// waiting is a job claimed ahead of a free worker.
type waiting struct {
	job      *postbox.Job
	deadline time.Time // start it before, or hand it back: see lease
}

// reply is the answer to one Store.Advance.
type reply struct {
	step    postbox.Step
	claimed []*postbox.Job
	asked   time.Time
	settled int // workers whose results the call carried
}

// loop is the state of Run, owned by its goroutine.
type loop struct {
	q       *Queue
	rctx    context.Context // for the store: recording outlives shutdown
	wg      sync.WaitGroup  // the workers
	results chan result
	replies chan reply

	waiting  []waiting
	done     []postbox.Done // attempts not yet handed to the store
	release  []*postbox.Job // jobs to hand back with the next call
	asking   bool           // a store call is under way
	due      bool           // a job may be due: claiming could find one
	stopping bool

	// busy counts the workers taken: running an action, or waiting for
	// its result to be recorded; unsent, those of them whose results wait
	// for the next store call.
	busy, unsent int
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
	l := &loop{q: q, rctx: context.WithoutCancel(ctx), results: make(chan result, q.workers), replies: make(chan reply, 1),
		due: true, runningHook: map[string]int{}, held: map[string]int{}}
	ticker := time.NewTicker(q.poll)
	defer ticker.Stop()
	// A store shared by several instances tells of work others appended.
	var wake <-chan struct{}
	if w, ok := q.store.(interface{ Wake() <-chan struct{} }); ok {
		wake = w.Wake()
	}
	stop := ctx.Done()
	var grace <-chan time.Time
	for {
		l.start(actx)
		l.ask()
		if l.stopping && l.busy == 0 && !l.asking && len(l.done) == 0 && len(l.release) == 0 {
			l.wg.Wait()
			return nil
		}
		select {
		case <-stop:
			stop = nil
			l.stopping = true
			for _, w := range l.waiting {
				l.handBack(w.job)
			}
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
			l.due = true
		case <-wake:
			l.due = true
		case <-ticker.C:
			l.due = true
		}
	}
}

// start hands waiting jobs to free workers, in the order claimed, within
// each hook's concurrency, and hands back those that waited too long.
func (l *loop) start(actx context.Context) {
	if len(l.waiting) == 0 {
		return
	}
	hooks := *l.q.hooks.Load()
	now := time.Now()
	kept := l.waiting[:0]
	for _, w := range l.waiting {
		j := w.job
		h := hooks[j.HookID]
		switch {
		case now.After(w.deadline):
			l.handBack(j)
		case l.busy >= l.q.workers || h != nil && h.Concurrency > 0 && l.runningHook[j.HookID] >= h.Concurrency:
			kept = append(kept, w)
		default:
			l.busy++
			l.runningHook[j.HookID]++
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				l.results <- l.q.work(actx, j)
			}()
		}
	}
	clear(l.waiting[len(kept):])
	l.waiting = kept
}

// handBack gives up a job that no worker runs.
func (l *loop) handBack(j *postbox.Job) {
	l.held[j.HookID]--
	l.release = append(l.release, j)
}

// ask starts a store call when none is under way and there is something to
// record or hand back, or room to claim jobs that may be due.
func (l *loop) ask() {
	if l.asking {
		return
	}
	want := 0
	if !l.stopping && l.due {
		// The workers whose results this call carries are free when it
		// returns: claim their next jobs in it too.
		want = claimAhead*l.q.workers - (l.busy - l.unsent) - len(l.waiting)
	}
	if want <= 0 && len(l.done) == 0 && len(l.release) == 0 {
		return
	}
	lease, _ := l.q.lease()
	step := postbox.Step{Done: l.done, Release: l.release, Claim: max(want, 0), Lease: lease, Skip: l.skip()}
	settled := l.unsent
	l.done, l.release, l.unsent = nil, nil, 0
	if step.Claim > 0 {
		// Set again by a wake-up meanwhile, or by a full claim.
		l.due = false
	}
	l.asking = true
	asked := time.Now()
	go func() {
		claimed, failed, err := l.q.store.Advance(l.rctx, step)
		if err != nil {
			failed = l.q.oneByOne(l.rctx, step, err)
		}
		for i, d := range step.Done {
			l.q.recorded(d, failed[i])
		}
		l.replies <- reply{step: step, claimed: claimed, asked: asked, settled: settled}
	}()
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
		failed[i] = q.store.Finish(ctx, d.Job, d.Attempt, d.Next)
	}
	for _, j := range step.Release {
		q.release(ctx, j)
	}
	return failed
}

// finished takes a worker's result, to hand to the next store call. The
// worker stays busy until the call returns.
func (l *loop) finished(r result) {
	l.unsent++
	l.runningHook[r.hook]--
	l.held[r.hook]--
	if r.done != nil {
		l.done = append(l.done, *r.done)
	}
	if r.release != nil {
		l.release = append(l.release, r.release)
	}
}

// answered keeps the claimed jobs for free workers, or hands back those
// beyond a hook's concurrency (one claim may bring more of a hook than it
// may run).
func (l *loop) answered(r reply) {
	l.asking = false
	l.busy -= r.settled
	switch {
	case r.step.Claim == 0 && len(r.step.Done) > 0:
		// Finished jobs may have made others due: their next action, or
		// the next delivery with their key.
		l.due = true
	case r.step.Claim > 0 && len(r.claimed) >= r.step.Claim:
		l.due = true // there may be more
	}
	_, wait := l.q.lease()
	hooks := *l.q.hooks.Load()
	for _, j := range r.claimed {
		l.held[j.HookID]++
		if h := hooks[j.HookID]; l.stopping || h != nil && h.Concurrency > 0 && l.held[j.HookID] > h.Concurrency {
			l.handBack(j)
			continue
		}
		l.waiting = append(l.waiting, waiting{job: j, deadline: r.asked.Add(wait)})
	}
}
