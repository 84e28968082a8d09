// Package queue runs the actions of stored deliveries: it claims jobs from
// the store a few at a time, workers run the hook's action, and the attempt
// is recorded and the job moved on (next action, retry with backoff, done
// or dead) in the same store call that claims the next jobs. Because the
// work lives in the store, it resumes after a restart.
package queue

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/payload"
)

// Store is what the queue needs of a store: to apply its Steps and to read
// a delivery for its actions. It also uses a store's optional
// postbox.Renewer (short leases, renewed), postbox.Waker (claims at once
// when another instance queues work) and postbox.Backlogger.
type Store interface {
	postbox.Advancer
	Delivery(ctx context.Context, id string) (*postbox.Delivery, error)
}

// Options configure a Queue.
type Options struct {
	Store  Store
	Hooks  []*postbox.Hook
	Logger *slog.Logger
	// Workers caps the commands (exec: CPU-bound) running at once; 0
	// means DefaultWorkers().
	Workers int
	// IOWorkers caps the I/O-bound actions (http, mqtt) running at once;
	// 0 means DefaultIOWorkers.
	IOWorkers int
	// Destinations are the policies of destinations by name ("*" for
	// every other one); see Policy.
	Destinations map[string]Policy
	// RenewEvery is how often the leases of held jobs are renewed on a
	// store that renews them; 0 means RenewEvery.
	RenewEvery time.Duration
	// Instance is the id this process registered in the store
	// (postbox.Registry), whose heartbeat the queue sends with each
	// renewal; "" sends none.
	Instance string
	// Lease is how long a claim reserves a job on a store that renews
	// leases, and how long each renewal extends it; 0 means Lease. Keep
	// it a few times RenewEvery.
	Lease time.Duration
	Grace time.Duration    // on shutdown, how long running actions may finish; 0 means 10s
	Poll  time.Duration    // how often to look for due retries without a wake-up; 0 means 1s
	Now   func() time.Time // nil means time.Now
	// Observer is told of every attempt; nil means none.
	Observer postbox.Observer
}

// Queue is the worker pool. Create it with New, start it with Run.
type Queue struct {
	store    Store
	logger   *slog.Logger
	renew    time.Duration
	leaseFor time.Duration // Options.Lease
	instance string
	fenced   fenceCounts
	workers  int // the CPU pool
	io       int // the I/O pool
	dests    *destinations
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

// DefaultWorkers is the number of commands that run at once unless
// Options.Workers says otherwise: one per CPU, as the configuration's
// default. More would keep the queue ahead under load (an exec worker
// waiting for its child uses no CPU), but the commands' own CPU then comes
// out of the answers: with four per CPU, the benchmark's exec hook was
// accepted at half the rate of a hook without actions (docs/performance.md).
// Operators whose commands mostly wait raise `workers:`. Calls that wait on
// the network (http, mqtt) have their own pool, DefaultIOWorkers.
func DefaultWorkers() int { return max(runtime.NumCPU(), 1) }

// New returns a queue over o.Store.
func New(o Options) *Queue {
	q := &Queue{store: o.Store, logger: o.Logger, workers: o.Workers, io: o.IOWorkers, grace: o.Grace, poll: o.Poll, now: o.Now,
		wake: make(chan struct{}, 1), dests: newDestinations(o.Destinations)}
	if q.workers <= 0 {
		q.workers = DefaultWorkers()
	}
	if q.io <= 0 {
		q.io = DefaultIOWorkers
	}
	q.renew = o.RenewEvery
	if q.renew <= 0 {
		q.renew = RenewEvery
	}
	q.instance = o.Instance
	q.leaseFor = o.Lease
	if q.leaseFor <= 0 {
		q.leaseFor = Lease
	}
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
	q.dests.setHooks(hooks)
}

// Destinations reports the state of every destination the hooks' actions
// talk to, for the admin API and metrics.
func (q *Queue) Destinations() []DestinationStatus {
	return q.dests.status(q.now(), q.pool)
}

// Resume closes the circuit breaker of the named destination (and ends a
// pause it asked for), so that its jobs are claimed again at once.
func (q *Queue) Resume(name string) error {
	if err := q.dests.resume(name); err != nil {
		return err
	}
	q.logger.Info("destination resumed by hand", "destination", name)
	q.Notify()
	return nil
}

// templater is implemented by actions that list their templates.
type templater interface{ Templates() []postbox.Template }

// readsPayload says whether running a for h needs the delivery's parsed
// body: its templates, or the hook's vars, look into .Payload. An action
// that does not list its templates is taken to.
func readsPayload(h *postbox.Hook, a postbox.Action) bool {
	t, ok := a.(templater)
	if !ok || len(h.Vars) > 0 {
		return true
	}
	for _, tt := range t.Templates() {
		if tt != nil && tt.UsesPayload() {
			return true
		}
	}
	return false
}

// pool is the size of the I/O pool when io, else of the CPU pool.
func (q *Queue) pool(io bool) int {
	if io {
		return q.io
	}
	return q.workers
}

// Notify wakes the workers: a delivery with actions was stored. It never
// blocks.
func (q *Queue) Notify() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Leases on a store that renews them (postbox.Renewer): a claimed job is
// reserved for Lease and the queue renews the leases of every job it holds
// each RenewEvery, so that the jobs of an instance that died are taken over
// within Lease, whatever its actions' timeouts.
const (
	Lease      = 15 * time.Second
	RenewEvery = 5 * time.Second
)

// lease is how long a claimed job is reserved. With renewals, Lease; else
// longer than any action may run, so that it is taken over only when its
// worker died. A job claimed ahead must start within wait of its claim, or
// be handed back.
func (q *Queue) lease() (lease, wait time.Duration) {
	if _, ok := q.store.(postbox.Renewer); ok {
		return q.leaseFor, 20 * time.Second
	}
	longest := 30 * time.Second
	for _, h := range *q.hooks.Load() {
		for _, a := range h.Actions {
			if t, ok := a.(timeouter); ok && t.Timeout() > longest {
				longest = t.Timeout()
			}
		}
	}
	return longest + 30*time.Second, 20 * time.Second
}

// work makes one attempt at a claimed job and says what to record: the
// attempt, or the job to hand back unchanged.
func (q *Queue) work(ctx context.Context, job *postbox.Job) result {
	rctx := context.WithoutCancel(ctx)
	h := (*q.hooks.Load())[job.HookID]
	if h == nil || job.Action >= len(h.Actions) {
		a := &postbox.Attempt{Kind: "none", Started: q.now(), Outcome: postbox.OutcomeError,
			Error: "hook or action is no longer configured"}
		q.jobLogger(job).Error("cannot run job", "err", a.Error)
		return result{hook: job.HookID, done: &postbox.Done{Job: job, Attempt: a, Next: postbox.JobTransition{Next: postbox.StateFailed}}}
	}
	dest := destinationOf(h, h.Actions[job.Action])
	d, err := q.store.Delivery(rctx, job.DeliveryID)
	if err != nil {
		q.jobLogger(job).Error("load delivery failed; job handed back", "err", err)
		return result{hook: job.HookID, release: job}
	}
	var data *postbox.TemplateData
	if readsPayload(h, h.Actions[job.Action]) {
		data = payload.TemplateData(d)
	} else {
		// Forwarding the raw body needs no parse (9% of a forwarded
		// delivery's CPU in the benchmark's profile).
		data = postbox.TemplateDataFor(d, nil)
	}
	if len(h.Vars) > 0 {
		if err := h.EvalVars(data, postbox.Env(data, d.Method, d.RemoteAddr)); err != nil {
			q.jobLogger(job).Warn("a var could not be computed; templates see it empty", "err", err)
		}
	}
	res, a, next := q.act(ctx, ctx, h, job, data)
	if a == nil {
		return result{hook: job.HookID, release: job}
	}
	return result{hook: job.HookID, done: &postbox.Done{Job: job, Attempt: a, Next: next}, ran: true, res: res,
		info: eventInfo{destination: dest.Name, received: d.Received, last: job.Action == len(h.Actions)-1}}
}

// act runs job's action with data and returns the attempt to record and
// what follows it. stop is the context whose end means shutdown: the
// attempt is nil then, and the job must be handed back, not failed. ctx may
// end sooner (a sync hook's timeout, which counts as the action's timeout).
func (q *Queue) act(ctx, stop context.Context, h *postbox.Hook, job *postbox.Job, data *postbox.TemplateData) (postbox.Result, *postbox.Attempt, postbox.JobTransition) {
	action := h.Actions[job.Action]
	start := q.now()
	res := action.Run(ctx, data)
	dur := q.now().Sub(start)
	if stop.Err() != nil {
		if errors.Is(context.Cause(stop), errLeaseLost) {
			// Another claim holds the job: its holder runs it.
			q.jobLogger(job).Warn("action stopped: its lease was lost to another claim; nothing is recorded", "duration", dur)
			return res, nil, postbox.JobTransition{Next: postbox.StatePending}
		}
		// Stopped by shutdown, not by its own failure: run it again later.
		q.jobLogger(job).Warn("action stopped by shutdown; job handed back", "duration", dur)
		return res, nil, postbox.JobTransition{Next: postbox.StatePending}
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
	return res, a, q.transition(h, job, res)
}

// attempt runs job's action inline (a sync hook), records the attempt and
// moves the job on; hold keeps the next job claimed by the caller.
func (q *Queue) attempt(ctx, stop context.Context, h *postbox.Hook, job *postbox.Job, data *postbox.TemplateData, hold time.Duration) (postbox.Result, postbox.JobTransition) {
	rctx := context.WithoutCancel(ctx)
	res, a, next := q.act(ctx, stop, h, job, data)
	if a == nil {
		q.release(rctx, job)
		return res, next
	}
	if next.Next == postbox.StateDone || next.Continue {
		next.Hold = hold
	}
	err := postbox.Finish(rctx, q.store, job, a, next)
	q.recorded(postbox.Done{Job: job, Attempt: a, Next: next}, eventInfo{destination: destinationOf(h, h.Actions[job.Action]).Name,
		received: data.Delivery.Received, last: job.Action == len(h.Actions)-1}, err)
	return res, next
}

// recorded follows up on an attempt that the store recorded (err nil) or
// could not: it logs it, tells the observer and wakes the queue when a
// retry is due.
func (q *Queue) recorded(d postbox.Done, info eventInfo, err error) {
	log := q.jobLogger(d.Job)
	if errors.Is(err, postbox.ErrFenced) {
		q.fenced.record.Add(1)
		log.Warn("late result refused: another claim holds the job (fenced); its holder runs the action",
			"outcome", d.Attempt.Outcome, "err", err)
		return
	}
	if err != nil {
		log.Error("record attempt failed", "err", err)
		return
	}
	a, next := d.Attempt, d.Next.Next
	if next == postbox.StatePending {
		// Wake when the retry is due rather than at the next poll.
		time.AfterFunc(time.Until(d.Next.RetryAt), q.Notify)
	}
	q.observer.Attempt(postbox.AttemptEvent{Hook: d.Job.HookID, Attempt: *a, Next: next,
		Destination: info.destination, Received: info.received, Last: info.last})
	level := slog.LevelInfo
	if a.Outcome != postbox.OutcomeOK {
		level = slog.LevelWarn
	}
	log.Log(context.Background(), level, "attempt", "kind", a.Kind, "outcome", a.Outcome, "exit_code", a.ExitCode,
		"status", a.Status, "duration", a.Duration, "err", a.Error, "next", next, "output", logOutput(a.Output))
}

func (q *Queue) jobLogger(job *postbox.Job) *slog.Logger {
	return q.logger.With("delivery", job.DeliveryID, "hook", job.HookID, "action", job.Action, "attempt", job.Attempt+1)
}

// RunSync runs the actions of d, a delivery of sync hook h stored with a
// Hold, one after another before the caller answers, and returns their
// results. It stops at the first failure: a retry, if the hook has any,
// then runs from the queue. ctx bounds the whole run (the hook's timeout);
// an action still running then is stopped and counts as timed out.
func (q *Queue) RunSync(ctx, stop context.Context, h *postbox.Hook, d *postbox.Delivery) []*postbox.Result {
	data := payload.TemplateData(d)
	h.EvalVars(data, postbox.Env(data, d.Method, d.RemoteAddr))
	job := &postbox.Job{DeliveryID: d.ID, HookID: h.ID, Lease: d.Lease}
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

func (q *Queue) release(ctx context.Context, job *postbox.Job) {
	if err := postbox.Release(ctx, q.store, job); err != nil && !errors.Is(err, context.Canceled) {
		q.jobLogger(job).Error("hand back job failed", "err", err)
	}
}

// transition decides what follows an attempt: done, a retry after backoff
// with full jitter, or the end: failed when the failure is permanent (a
// retry cannot help), dead when the attempts the hook allows (one unless
// retry: says more) are used up, so that a replay of dead deliveries finds
// every one a retry might have mended.
func (q *Queue) transition(h *postbox.Hook, job *postbox.Job, res postbox.Result) postbox.JobTransition {
	if res.Outcome == postbox.OutcomeOK {
		return postbox.JobTransition{Next: postbox.StateDone}
	}
	if res.Permanent {
		return postbox.JobTransition{Next: postbox.StateFailed, Continue: h.ContinueOnError}
	}
	if job.Attempt+1 >= max(h.Retry.Attempts, 1) {
		return postbox.JobTransition{Next: postbox.StateDead, Continue: h.ContinueOnError}
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
