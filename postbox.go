// Package postbox holds the domain of the postbox webhook server: hooks,
// deliveries, attempts, the Store that keeps them and the Error type that
// every layer speaks. It imports nothing of the project's own packages; the
// sub-packages (http, sqlite, queue, action/...) depend on it.
package postbox

import (
	"context"
	"time"
)

// AdminSessionCookie is the name of the admin console's session cookie. A
// browser signed in to the console sends it to every port of the same
// host, the hook listener's too, so the ingress redacts it from the Cookie
// header of every stored delivery: a delivery's headers are shown in the
// console, replayed and passed to actions.
const AdminSessionCookie = "postbox_admin"

// Store is the whole contract of a store: what sqlite.DB and postgres.DB
// implement and storetest.Run checks. Each user asks only for its part,
// with an interface of its own (http.Store, queue.Store, admin.Store),
// and for an optional capability (Renewer, Backlogger, Waker,
// HealthReporter) by asserting it.
//
// A store is a set of primitives: it writes, reads and applies a Step.
// The policy (the job state machine, retries, backoff, leases, what runs
// where) lives in the queue and in this package (Claim, Finish, Release
// are Advance with one part of a Step).
type Store interface {
	Appender
	Advancer
	Reader
	// Replay runs a delivery's actions again as a new series of attempts
	// (the earlier attempts stay as they were); the delivery is pending
	// again. Replaying a delivery whose actions are still running is an
	// ECONFLICT error.
	Replay(ctx context.Context, id string) error
	// Close releases the store's resources.
	Close() error
}

// Appender stores deliveries.
type Appender interface {
	// Append stores d and one job for its first action when d.Actions > 0.
	// It returns only once d is durable. d.State is set by the store; with
	// a DedupKey seen within the window it is StateDuplicate, DuplicateOf
	// is set and no job is created.
	Append(ctx context.Context, d *Delivery) error
}

// Reader reads deliveries back.
type Reader interface {
	// Delivery returns one delivery with its attempts, or an Error with
	// code ENOTFOUND.
	Delivery(ctx context.Context, id string) (*Delivery, error)
	// Deliveries lists deliveries, newest first.
	Deliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error)
	// HookStats counts deliveries per hook and state.
	HookStats(ctx context.Context) ([]HookStats, error)
}

// Advancer applies a queue's Step: the one primitive of the job state
// machine.
type Advancer interface {
	// Advance finishes the jobs of s.Done, hands back s.Release, applies
	// s.Defer and then claims up to s.Claim jobs (seeing those changes),
	// in one write: a worker that finished a job thus waits for one commit
	// before its next job, not two, and a queue can keep a few jobs
	// claimed ahead at the cost of no extra commit.
	//
	// Finishing records the attempt and moves the job on as Next says: the
	// next action, a retry at RetryAt, done, failed or dead. The job must
	// still be held with job.Lease: a job taken over by another claim, or
	// that moved on, is refused with an error wrapping ErrFenced and
	// nothing is written for it. With Next.Hold keeping the next action's
	// job claimed, its job.Lease is set to that job's token. A released
	// job no longer held with its Lease is left alone.
	//
	// A claim leases due jobs that are not leased until now+s.Lease. A job
	// whose lease expired is claimable again: its claim records an
	// attempt with OutcomeInterrupted (the holder may have run it) and
	// counts it in Job.Attempt. Jobs of s.Skip hooks and s.SkipActions are
	// not claimed, nor a job whose delivery has a Key that an earlier
	// unfinished delivery of its hook shares (deliveries with one key run
	// one after another).
	//
	// failed has one entry per s.Done: nil when it was recorded, or its
	// own error (a job that moved on); one such job does not undo the
	// others. err is set when nothing was recorded, released nor claimed.
	// With nothing to finish or release, Advance may answer from a read,
	// without a write, when no job is due.
	Advance(ctx context.Context, s Step) (claimed []*Job, failed []error, err error)
}

// Waker is a Store that can tell a queue that jobs became due elsewhere (a
// PostgreSQL NOTIFY from another instance), so that it claims at once
// instead of at its next poll.
type Waker interface {
	Wake() <-chan struct{}
}

// HealthReporter is a Store that can tell it no longer accepts writes (the
// SQLite store after a failed fsync): /healthz reports it.
type HealthReporter interface {
	Healthy() error
}

// Backlogger is a Store that can say how much work waits: the queue's lag,
// for metrics and the admin API.
type Backlogger interface {
	Backlog(ctx context.Context) (Backlog, error)
}

// Backlog is the work a store holds: jobs of deliveries not yet done.
type Backlog struct {
	Jobs   int `json:"jobs"`   // every job with work left: due, claimed or waiting to retry
	Due    int `json:"due"`    // due now and not claimed: waiting for a worker
	Leased int `json:"leased"` // claimed by a queue: running or about to
	// OldestDue is the due time of the job that has waited longest for a
	// worker (claimed or not); zero when none is due.
	OldestDue time.Time `json:"oldest_due,omitzero"`
}

// DeliveryFilter narrows Store.Deliveries. The zero value lists the newest
// 100 deliveries of every hook.
type DeliveryFilter struct {
	Hook   string    // only this hook, when not empty
	State  State     // only this state, when not empty
	Before string    // only ids sorting before this one (cursor), when not empty
	Since  time.Time // only deliveries received at or after, when not zero
	Until  time.Time // only deliveries received before, when not zero
	Search string    // only deliveries whose raw body contains this, when not empty
	Limit  int       // at most this many; 0 means 100
}

// HookStats is the number of deliveries of one hook in each state.
type HookStats struct {
	Hook   string        `json:"hook"`
	States map[State]int `json:"states"`
	Total  int           `json:"total"`
	Last   time.Time     `json:"last"` // when the newest delivery was received
}

// Job is one unit of queued work: the action at index Action of a delivery.
// Actions of a delivery run in order; the store creates the job for action
// i+1 when action i is finished.
type Job struct {
	DeliveryID string
	HookID     string
	Series     int // the delivery's replay series (0 for the original run)
	Action     int // index into the hook's actions
	Attempt    int // attempts already made for this action in this series (0 on first run)
	// Lease is the claim's token: the lease's end as the store wrote it
	// (ns since the epoch), set by a claim, by Renewer.Renew (through the
	// caller) and by Append with a Hold (Delivery.Lease). Every write on
	// the job presents it (Finish, Advance, Release, Renew): another claim
	// of the same job writes another, later one, so a holder whose lease
	// ran out and was taken over is refused (ErrFenced). Zero matches
	// only a job that nobody holds.
	Lease int64
}

// Renewer is a Store whose leases can be renewed: a queue holds its jobs
// with short leases and renews them while it works, so that the jobs of an
// instance that died are taken over within one lease, not after the
// longest action's timeout.
type Renewer interface {
	// Renew extends the lease of each job in jobs that is still held with
	// its Lease token to now+lease. leases[i] is job i's new token, or 0
	// when it was no longer held (taken over by another claim, handed
	// back, or moved on): its holder must stop working on it. Renew does
	// not change jobs; the caller sets the tokens it keeps.
	Renew(ctx context.Context, jobs []*Job, lease time.Duration) (leases []int64, err error)
}

// JobTransition says what happens to a job after an attempt.
type JobTransition struct {
	// Next is the state the job moves to: StateDone (advance to the next
	// action, or finish the delivery), StatePending (retry at RetryAt),
	// StateFailed or StateDead (stop the delivery).
	Next    State
	RetryAt time.Time
	// Continue, with Next == StateFailed, still runs the following actions
	// (continue_on_error); the delivery ends as failed.
	Continue bool
	// Hold, when positive, keeps the job for the next action claimed by
	// the caller for this long (a sync hook running its actions inline).
	Hold time.Duration
}

// Step is what a queue hands its store in one Advance. The zero value does
// nothing.
type Step struct {
	Done    []Done        // attempts made, to record and move on
	Release []*Job        // claimed jobs handed back unchanged
	Claim   int           // claim up to this many due jobs after the above
	Lease   time.Duration // how long the claimed jobs are reserved
	Skip    []string      // hooks whose jobs are not claimed (at their concurrency limit)
	// SkipActions are actions whose jobs are not claimed: their
	// destination is paused or full, or their kind of worker is.
	SkipActions []ActionRef
	// Defer moves the unclaimed jobs of some actions (a paused
	// destination's) to be due no sooner than Until, before the claim, so
	// that claims need not step over them while they wait. A zero Until
	// makes them due now instead (a destination resumed by hand).
	Defer []Deferral
}

// Deferral is one entry of Step.Defer.
type Deferral struct {
	Action ActionRef
	Until  time.Time
}

// ActionRef names one action of a hook.
type ActionRef struct {
	Hook   string
	Action int // index into the hook's actions
}

// Done is an attempt made at a claimed job and what follows it, as the
// arguments of Finish.
type Done struct {
	Job     *Job
	Attempt *Attempt
	Next    JobTransition
}
