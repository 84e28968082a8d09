package queue

import (
	"errors"
	"sync/atomic"
)

// errLeaseLost is the cause of a running action's stop when a renewal
// found its job taken over by another claim.
var errLeaseLost = errors.New("lease lost to another claim")

// fenceCounts counts writes the store refused because another claim held
// the job (postbox.ErrFenced): renewals that found the lease lost, and
// results (attempts) recorded too late.
type fenceCounts struct{ renew, record atomic.Int64 }

// Fenced is what Queue.Fenced reports.
type Fenced struct {
	Renewals int64 `json:"renewals"` // renewals that found the job taken over
	Results  int64 `json:"results"`  // attempts refused: the job was taken over before they were recorded
}

// Fenced counts, since the queue was made, its writes that the store
// refused because another claim had taken the job over: a late holder's
// renewals and results. Safe for concurrent use.
func (q *Queue) Fenced() Fenced {
	return Fenced{Renewals: q.fenced.renew.Load(), Results: q.fenced.record.Load()}
}
