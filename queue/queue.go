// Package queue runs the actions of stored deliveries: workers claim jobs
// from the store, run the hook's action, record the attempt and move the job
// on (next action, retry with backoff, done or dead). Because the work lives
// in the store, it resumes after a restart.
package queue

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postbox/postbox"
)

// Options configure a Queue.
type Options struct {
	Store   postbox.Store
	Hooks   []*postbox.Hook
	Logger  *slog.Logger
	Workers int              // actions running at once; at least 1
	Grace   time.Duration    // on shutdown, how long running actions may finish; 0 means 10s
	Poll    time.Duration    // how often to look for due retries without a wake-up; 0 means 1s
	Now     func() time.Time // nil means time.Now
	// Observer is told of every attempt; nil means none.
	Observer postbox.Observer
}

// Queue is the worker pool. Create it with New, start it with Run.
type Queue struct {
	store    postbox.Store
	logger   *slog.Logger
	workers  int
	grace    time.Duration
	poll     time.Duration
	now      func() time.Time
	observer postbox.Observer
	hooks    atomic.Pointer[map[string]*postbox.Hook]
	wake     chan struct{}
}

// timeouter is implemented by actions with a timeout, so that a job's lease
// outlasts the action.
type timeouter interface{ Timeout() time.Duration }

// New returns a queue over o.Store.
func New(o Options) *Queue {
	q := &Queue{store: o.Store, logger: o.Logger, workers: max(o.Workers, 1), grace: o.Grace, poll: o.Poll, now: o.Now,
		wake: make(chan struct{}, 1)}
	if q.logger == nil {
		q.logger = slog.New(slog.DiscardHandler)
	}
	if q.grace <= 0 {
		q.grace = 10 * time.Second
	}
	if q.poll <= 0 {
		q.poll = time.Second
	}
	if q.now == nil {
		q.now = time.Now
	}
	q.observer = o.Observer
	if q.observer == nil {
		q.observer = postbox.NopObserver{}
	}
	q.SetHooks(o.Hooks)
	return q
}

// SetHooks replaces the hooks whose actions jobs run.
func (q *Queue) SetHooks(hooks []*postbox.Hook) {
	m := make(map[string]*postbox.Hook, len(hooks))
	for _, h := range hooks {
		m[h.ID] = h
	}
	q.hooks.Store(&m)
}

// Notify wakes the workers: a delivery with actions was stored. It never
// blocks.
func (q *Queue) Notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// lease is how long a claimed job is reserved: longer than any action may
// run, so that it is taken over only when its worker died.
func (q *Queue) lease() time.Duration {
	longest := 30 * time.Second
	for _, h := range *q.hooks.Load() {
		for _, a := range h.Actions {
			if t, ok := a.(timeouter); ok && t.Timeout() > longest {
				longest = t.Timeout()
			}
		}
	}
	return longest + 30*time.Second
}

// Run works until ctx is done, then lets running actions finish for the
// grace period, stops the rest and hands their jobs back. It returns nil
// after a clean shutdown.
func (q *Queue) Run(ctx context.Context) error {
	// Actions get their own context so that they outlive ctx by the grace.
	actx, stopActions := context.WithCancel(context.WithoutCancel(ctx))
	defer stopActions()
	var wg sync.WaitGroup
	done := make(chan string, q.workers) // the hook of a finished job
	running := 0
	perHook := map[string]int{}
	finished := func(hook string) {
		running--
		perHook[hook]--
	}
	ticker := time.NewTicker(q.poll)
	defer ticker.Stop()
	// A store shared by several instances tells of work others appended.
	var wake <-chan struct{}
	if w, ok := q.store.(interface{ Wake() <-chan struct{} }); ok {
		wake = w.Wake()
	}
	for {
		if free := q.workers - running; free > 0 {
			hooks := *q.hooks.Load()
			var skip []string
			for id, n := range perHook {
				if h := hooks[id]; h != nil && h.Concurrency > 0 && n >= h.Concurrency {
					skip = append(skip, id)
				}
			}
			jobs, err := q.store.Claim(ctx, free, q.lease(), skip...)
			if err != nil && ctx.Err() == nil {
				q.logger.Error("claim jobs failed", "err", err)
			}
			for _, j := range jobs {
				if h := hooks[j.HookID]; h != nil && h.Concurrency > 0 && perHook[j.HookID] >= h.Concurrency {
					// One claim brought more of this hook than it may run.
					q.release(context.WithoutCancel(ctx), j, q.logger)
					continue
				}
				running++
				perHook[j.HookID]++
				wg.Add(1)
				go func() {
					defer wg.Done()
					q.run(actx, j)
					done <- j.HookID
				}()
			}
			if len(jobs) == free {
				// There may be more: claim again when a slot frees.
				select {
				case h := <-done:
					finished(h)
					continue
				case <-ctx.Done():
				}
			}
		}
		select {
		case <-ctx.Done():
			return q.drain(&wg, stopActions)
		case <-q.wake:
		case <-wake:
		case h := <-done:
			finished(h)
		case <-ticker.C:
		}
	}
}

func (q *Queue) drain(wg *sync.WaitGroup, stopActions context.CancelFunc) error {
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(q.grace):
		q.logger.Warn("stopping actions still running after the grace period", "grace", q.grace)
		stopActions()
		<-finished
	}
	return nil
}

// run makes one attempt at a claimed job and records it.
func (q *Queue) run(ctx context.Context, job *postbox.Job) {
	// Recording must happen even while shutting down.
	rctx := context.WithoutCancel(ctx)
	log := q.logger.With("delivery", job.DeliveryID, "hook", job.HookID, "action", job.Action, "attempt", job.Attempt+1)
	h := (*q.hooks.Load())[job.HookID]
	if h == nil || job.Action >= len(h.Actions) {
		a := &postbox.Attempt{Kind: "none", Started: q.now(), Outcome: postbox.OutcomeError,
			Error: "hook or action is no longer configured"}
		log.Error("cannot run job", "err", a.Error)
		if err := q.store.Finish(rctx, job, a, postbox.JobTransition{Next: postbox.StateFailed}); err != nil {
			log.Error("record attempt failed", "err", err)
		}
		return
	}
	d, err := q.store.Delivery(rctx, job.DeliveryID)
	if err != nil {
		log.Error("load delivery failed; job handed back", "err", err)
		q.release(rctx, job, log)
		return
	}
	data := postbox.NewTemplateData(d)
	if err := h.EvalVars(data, postbox.Env(data, d.Method, d.RemoteAddr)); err != nil {
		log.Warn("a var could not be computed; templates see it empty", "err", err)
	}
	q.attempt(ctx, ctx, h, job, data, 0)
}

// attempt runs job's action with data, records the attempt and moves the
// job on. stop is the context whose end means shutdown (the job is handed
// back, not failed); ctx may end sooner (a sync hook's timeout, which counts
// as the action's timeout). hold keeps the next job claimed by the caller.
func (q *Queue) attempt(ctx, stop context.Context, h *postbox.Hook, job *postbox.Job, data *postbox.TemplateData, hold time.Duration) (postbox.Result, postbox.JobTransition) {
	rctx := context.WithoutCancel(ctx)
	log := q.logger.With("delivery", job.DeliveryID, "hook", job.HookID, "action", job.Action, "attempt", job.Attempt+1)
	action := h.Actions[job.Action]
	start := q.now()
	res := action.Run(ctx, data)
	dur := q.now().Sub(start)
	if stop.Err() != nil {
		// Stopped by shutdown, not by its own failure: run it again later.
		log.Warn("action stopped by shutdown; job handed back", "duration", dur)
		q.release(rctx, job, log)
		return res, postbox.JobTransition{Next: postbox.StatePending}
	}
	if ctx.Err() != nil && res.Outcome != postbox.OutcomeOK {
		res.Outcome = postbox.OutcomeTimeout
	}
	a := &postbox.Attempt{DeliveryID: job.DeliveryID, Series: job.Series, Action: job.Action, N: job.Attempt + 1,
		Kind: action.Kind(), Started: start.UTC(), Duration: dur, Outcome: res.Outcome,
		ExitCode: res.ExitCode, Status: res.Status, Output: res.Output, Truncated: res.Truncated}
	if res.Err != nil {
		a.Error = res.Err.Error()
	}
	next := q.transition(h, job, res)
	if next.Next == postbox.StateDone || next.Continue {
		next.Hold = hold
	}
	if err := q.store.Finish(rctx, job, a, next); err != nil {
		log.Error("record attempt failed", "err", err)
		return res, next
	}
	if next.Next == postbox.StatePending {
		// Wake when the retry is due rather than at the next poll.
		time.AfterFunc(time.Until(next.RetryAt), q.Notify)
	}
	q.observer.Attempt(postbox.AttemptEvent{Hook: h.ID, Attempt: *a, Next: next.Next})
	level := slog.LevelInfo
	if res.Outcome != postbox.OutcomeOK {
		level = slog.LevelWarn
	}
	log.Log(rctx, level, "attempt", "kind", a.Kind, "outcome", a.Outcome, "exit_code", a.ExitCode,
		"status", a.Status, "duration", dur, "err", a.Error, "next", next.Next)
	return res, next
}

// RunSync runs the actions of d, a delivery of sync hook h stored with a
// Hold, one after another before the caller answers, and returns their
// results. It stops at the first failure: a retry, if the hook has any,
// then runs from the queue. ctx bounds the whole run (the hook's timeout);
// an action still running then is stopped and counts as timed out.
func (q *Queue) RunSync(ctx, stop context.Context, h *postbox.Hook, d *postbox.Delivery) []*postbox.Result {
	data := postbox.NewTemplateData(d)
	h.EvalVars(data, postbox.Env(data, d.Method, d.RemoteAddr))
	job := &postbox.Job{DeliveryID: d.ID, HookID: h.ID}
	for i := range h.Actions {
		job.Action = i
		res, next := q.attempt(ctx, stop, h, job, data, d.Hold)
		data.Result = &res
		data.Results = append(data.Results, &res)
		if stop.Err() != nil || res.Outcome != postbox.OutcomeOK && !next.Continue {
			break
		}
	}
	return data.Results
}

func (q *Queue) release(ctx context.Context, job *postbox.Job, log *slog.Logger) {
	if err := q.store.Release(ctx, job); err != nil && !errors.Is(err, context.Canceled) {
		log.Error("hand back job failed", "err", err)
	}
}

// transition decides what follows an attempt: done, a retry after backoff
// with full jitter, or the end (failed without retries, dead after them).
func (q *Queue) transition(h *postbox.Hook, job *postbox.Job, res postbox.Result) postbox.JobTransition {
	if res.Outcome == postbox.OutcomeOK {
		return postbox.JobTransition{Next: postbox.StateDone}
	}
	attempts := max(h.Retry.Attempts, 1)
	if res.Permanent || job.Attempt+1 >= attempts {
		end := postbox.StateFailed
		if attempts > 1 && !res.Permanent {
			end = postbox.StateDead
		}
		return postbox.JobTransition{Next: end, Continue: h.ContinueOnError}
	}
	return postbox.JobTransition{Next: postbox.StatePending, RetryAt: q.now().Add(Backoff(h.Retry, job.Attempt, res.RetryAfter))}
}

// Backoff returns the delay before retry number n+1 (n = attempts made
// minus one): a random duration in [0, min(max, base·2ⁿ)] ("full jitter"),
// but never less than retryAfter.
func Backoff(p postbox.RetryPolicy, n int, retryAfter time.Duration) time.Duration {
	ceiling := p.Backoff
	for i := 0; i < n && ceiling < p.MaxBackoff; i++ {
		ceiling *= 2
	}
	ceiling = min(ceiling, p.MaxBackoff)
	d := time.Duration(0)
	if ceiling > 0 {
		d = time.Duration(rand.Int64N(int64(ceiling) + 1))
	}
	return max(d, retryAfter)
}
