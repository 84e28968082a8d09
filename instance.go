package postbox

import (
	"context"
	"time"
)

// Instance is one postbox process registered in its store: several
// instances on one PostgreSQL database each have a row, so that an
// operator sees which are alive and which jobs each holds.
type Instance struct {
	ID      string    `json:"id"`
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Version string    `json:"version"`
	Started time.Time `json:"started"`
	// Heartbeat is the last time it said it was alive (with its lease
	// renewals, every few seconds), on the store's clock.
	Heartbeat time.Time `json:"heartbeat"`
	// Stopped is when it deregistered on a clean shutdown; zero while it
	// runs, or when it died without a word (its heartbeat then ages).
	Stopped time.Time `json:"stopped,omitzero"`
	// Jobs are the jobs it holds now (leases not run out), at most
	// MaxListedJobs of them; Held counts them all.
	Jobs []HeldJob `json:"jobs"`
	Held int       `json:"held"`
	// State is StateAt the store's clock when it was listed.
	State string `json:"state"`
}

// MaxListedJobs is how many held jobs Registry.Instances lists per
// instance.
const MaxListedJobs = 100

// HeldJob is one job an instance holds.
type HeldJob struct {
	Delivery string    `json:"delivery"`
	Hook     string    `json:"hook"`
	Action   int       `json:"action"`
	Attempt  int       `json:"attempt"` // attempts made before this claim
	Until    time.Time `json:"lease_until"`
}

// Instance states, as Instance.StateAt reports them.
const (
	InstanceRunning = "running" // heartbeating
	InstanceSilent  = "silent"  // no heartbeat for SilentAfter: dead, stalled or cut off from the store
	InstanceStopped = "stopped" // shut down cleanly
)

// SilentAfter is how long an instance may go without a heartbeat before it
// counts as silent: a few missed heartbeats, about two default leases.
const SilentAfter = 30 * time.Second

// StateAt says whether in runs, at now on the store's clock.
func (in *Instance) StateAt(now time.Time) string {
	switch {
	case !in.Stopped.IsZero():
		return InstanceStopped
	case now.Sub(in.Heartbeat) > SilentAfter:
		return InstanceSilent
	default:
		return InstanceRunning
	}
}

// ForgetInstancesAfter is how long a stopped or silent instance stays
// listed: Register forgets those older.
const ForgetInstancesAfter = 24 * time.Hour

// Registry is a Store in which running instances register themselves.
type Registry interface {
	// Register adds in (ID, Host, PID, Version; Started and Heartbeat
	// are set by the store) and makes the jobs this handle claims from
	// then on record in.ID as their holder. It forgets instances that
	// stopped or went silent more than a day before.
	Register(ctx context.Context, in *Instance) error
	// Heartbeat says instance id is alive.
	Heartbeat(ctx context.Context, id string) error
	// Deregister marks instance id stopped (a clean shutdown).
	Deregister(ctx context.Context, id string) error
	// Instances lists the registered instances, newest first, each with
	// the jobs it holds and its State, and the store's clock.
	Instances(ctx context.Context) ([]*Instance, time.Time, error)
}
