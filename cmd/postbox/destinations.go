package main

import (
	"sync/atomic"

	"github.com/postbox/postbox/config"
	"github.com/postbox/postbox/queue"
)

// destinationPolicies turns the configuration's destinations into the
// queue's policies.
func destinationPolicies(ds map[string]config.Destination) map[string]queue.Policy {
	if len(ds) == 0 {
		return nil
	}
	out := make(map[string]queue.Policy, len(ds))
	for name, d := range ds {
		out[name] = queue.Policy{Concurrency: d.Concurrency, Rate: d.Rate, Burst: d.Burst,
			Failures: d.Failures, Cooldown: d.Cooldown, MaxCooldown: d.MaxCooldown}
	}
	return out
}

// queueRef lets the admin listener, which starts first, reach the queue
// made after it.
type queueRef struct{ p atomic.Pointer[queue.Queue] }

func (r *queueRef) Destinations() []queue.DestinationStatus {
	if q := r.p.Load(); q != nil {
		return q.Destinations()
	}
	return nil
}

func (r *queueRef) Resume(name string) error {
	if q := r.p.Load(); q != nil {
		return q.Resume(name)
	}
	return queue.ErrUnknownDestination
}
