package postbox

import (
	"context"
	"fmt"
	"time"
)

// Claim leases up to max due jobs until now+lease, skipping the jobs of
// skipHooks: Advance with a claim alone.
func Claim(ctx context.Context, s Advancer, max int, lease time.Duration, skipHooks ...string) ([]*Job, error) {
	if max <= 0 {
		return nil, nil
	}
	jobs, _, err := s.Advance(ctx, Step{Claim: max, Lease: lease, Skip: skipHooks})
	if err != nil {
		return nil, fmt.Errorf("claim: %w", err)
	}
	return jobs, nil
}

// Finish records attempt a of a claimed job and moves the job on as next
// says: Advance with one Done. A job no longer held with job.Lease is
// refused with an error wrapping ErrFenced.
func Finish(ctx context.Context, s Advancer, job *Job, a *Attempt, next JobTransition) error {
	_, failed, err := s.Advance(ctx, Step{Done: []Done{{Job: job, Attempt: a, Next: next}}})
	if err == nil {
		err = failed[0]
	}
	if err != nil {
		return fmt.Errorf("finish %s action %d: %w", job.DeliveryID, job.Action, err)
	}
	return nil
}

// Release hands a claimed job back unchanged, to be claimed again now (on
// shutdown, when an action could not finish): Advance with one release. A
// job no longer held with job.Lease is left alone.
func Release(ctx context.Context, s Advancer, job *Job) error {
	if _, _, err := s.Advance(ctx, Step{Release: []*Job{job}}); err != nil {
		return fmt.Errorf("release %s: %w", job.DeliveryID, err)
	}
	return nil
}
