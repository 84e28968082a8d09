package postbox

import (
	"net/http"
	"net/url"
	"time"
)

// State is where a delivery (or one of its jobs) stands.
type State string

// The states of a delivery. A delivery with no actions is done at once.
// failed and dead both end a delivery whose action failed; they say whether
// trying again could help (docs/actions.md, "Delivery states").
const (
	StatePending State = "pending" // accepted, actions not finished yet
	StateDone    State = "done"    // every action succeeded
	// StateFailed: an action failed permanently (an HTTP 4xx other than
	// 408 and 429, a template that does not render, an address refused):
	// a retry would fail the same way, so none is made.
	StateFailed State = "failed"
	// StateDead: an action failed on each of the attempts the hook allows
	// (retry.attempts, 1 by default), each time in a way a later try
	// might mend (exit status, timeout, 5xx, connection refused): a
	// replay once the cause is fixed may succeed.
	StateDead State = "dead"
	// StateDuplicate marks a delivery whose dedup key was seen within the
	// hook's window: it is kept, answered 2xx, and runs no action.
	StateDuplicate State = "duplicate"
)

// Delivery is one accepted HTTP request, kept exactly as received.
type Delivery struct {
	ID         string      `json:"id"`
	HookID     string      `json:"hook"`
	Method     string      `json:"method"`
	Path       string      `json:"path"`
	Query      url.Values  `json:"query,omitempty"`
	Header     http.Header `json:"header,omitempty"`
	Body       []byte      `json:"body,omitempty"` // never modified once read: templates share its bytes
	RemoteAddr string      `json:"remote_addr"`
	Received   time.Time   `json:"received"`
	// PathValues holds the values of the hook path's wildcards.
	PathValues map[string]string `json:"path_values,omitempty"`
	// Actions is the number of actions the hook had when the delivery was
	// accepted.
	Actions int `json:"actions"`
	// Key orders deliveries of one hook that share it (order: per-key).
	Key      string     `json:"key,omitempty"`
	State    State      `json:"state"`
	Attempts []*Attempt `json:"attempts,omitempty"`

	// DedupKey, when not empty, makes the store record this delivery as a
	// duplicate of an earlier one of the same hook with the same key
	// received within DedupWindow.
	DedupKey    string        `json:"dedup_key,omitempty"`
	DedupWindow time.Duration `json:"-"`
	// DuplicateOf is the id of the first delivery with the same dedup key,
	// set by the store when State is StateDuplicate.
	DuplicateOf string `json:"duplicate_of,omitempty"`
	// Series counts replays: 0 for the original run of the actions.
	Series int `json:"series"`
	// Relays are the listeners (postbox listen) the delivery was relayed
	// to, filled by Store.Delivery on a Relayer; empty in lists.
	Relays []Relay `json:"relays,omitempty"`

	// Hold, when positive, creates the first job already claimed by the
	// caller for this long: a sync hook runs its actions inline, and the
	// queue takes over only if the process dies first. Not stored.
	Hold time.Duration `json:"-"`
	// Lease is set by Append when Hold is positive: the held job's lease
	// token (see Job.Lease), which the caller presents when it records
	// the attempt or hands the job back. Not stored.
	Lease int64 `json:"-"`
}

// ContentType returns the delivery's Content-Type header.
func (d *Delivery) ContentType() string { return d.Header.Get("Content-Type") }

// Outcome is the result of one attempt at an action.
type Outcome string

// Outcomes of an attempt.
const (
	OutcomeOK      Outcome = "ok"      // the action succeeded
	OutcomeFailed  Outcome = "failed"  // it ran and reported failure (exit code, HTTP status)
	OutcomeTimeout Outcome = "timeout" // it ran past its timeout and was stopped
	OutcomeError   Outcome = "error"   // it could not run (command missing, connection refused)
	// OutcomeInterrupted is recorded by the store, not by an action: the
	// job's lease ran out while an instance held it (the instance died,
	// stalled or lost the database) and another claim took it over. The
	// action may or may not have run; it runs again, and the interrupted
	// attempt counts towards the hook's retry limit.
	OutcomeInterrupted Outcome = "interrupted"
)

// Attempt records one try at one action of a delivery. Fields that do not
// apply to an action kind stay zero (ExitCode for http, Status for exec).
type Attempt struct {
	DeliveryID string        `json:"delivery"`
	Action     int           `json:"action"`
	Series     int           `json:"series"` // 0 for the original run, then one per replay
	N          int           `json:"n"`      // 1 for the first attempt
	Kind       string        `json:"kind"`
	Started    time.Time     `json:"started"`
	Duration   time.Duration `json:"duration_ns"`
	Outcome    Outcome       `json:"outcome"`
	ExitCode   int           `json:"exit_code"`
	Status     int           `json:"status,omitempty"` // HTTP status of an http action
	Output     string        `json:"output,omitempty"` // bounded; see Truncated
	Truncated  bool          `json:"truncated,omitempty"`
	Error      string        `json:"error,omitempty"`
}

// ResumeAt says where the actions of pending delivery d stand, judged by
// its attempts of the current series: the action to run next, the attempts
// already made at it, and whether an earlier action failed and was passed
// over (continue_on_error), which makes the delivery end as failed.
//
// Attempts do not say whether a failure was final: a pending delivery whose
// latest attempt failed resumes with a retry of that action, counted as
// its next attempt, so the hook's retry limit still holds. (Only when the
// failure was final under continue_on_error and the next action had not
// started does that action run once more than it would have.) The postgres
// package holds the same function.
func (d *Delivery) ResumeAt() (action, attempt int, failed bool) {
	last := map[int]*Attempt{} // the latest attempt at each action
	top := -1
	for _, a := range d.Attempts {
		if a.Series != d.Series {
			continue
		}
		if p := last[a.Action]; p == nil || a.N > p.N {
			last[a.Action] = a
		}
		top = max(top, a.Action)
	}
	if top < 0 {
		return 0, 0, false
	}
	for i, a := range last {
		if i < top && a.Outcome != OutcomeOK {
			failed = true
		}
	}
	if a := last[top]; a.Outcome != OutcomeOK || top+1 >= d.Actions {
		// A retry was due, or (a state Finish never leaves) every action
		// succeeded: run the last one attempted again.
		return top, a.N, failed
	}
	return top + 1, 0, failed
}
