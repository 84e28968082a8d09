package admin

import (
	"bytes"
	"context"
	"net/http"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/queue"
)

// Metric names of the instances sharing a store (issue 19).
const (
	MetricInstances = "postbox_instances"    // state: running, silent, stopped
	MetricHeldJobs  = "postbox_held_jobs"    // instance_id: jobs each instance holds (not "instance", which Prometheus gives every target)
	MetricFenced    = "postbox_fenced_total" // write: renew, record
)

// fencer is a Queue that counts its writes refused by fencing.
type fencer interface{ Fenced() queue.Fenced }

// instancesView is the answer of GET /api/instances.
type instancesView struct {
	Self      string              `json:"self"` // this instance's id; "" when it is not registered
	Now       time.Time           `json:"now"`  // the store's clock
	Instances []*postbox.Instance `json:"instances"`
	Fenced    *queue.Fenced       `json:"fenced,omitempty"` // this instance's refused writes
}

func (s *Server) handleInstances() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reg, ok := s.store.(postbox.Registry)
		if !ok {
			writeError(w, postbox.Errorf(postbox.EUNAVAILABLE, "this store keeps no instances"))
			return
		}
		list, now, err := reg.Instances(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v := instancesView{Self: s.instance, Now: now, Instances: list}
		if v.Instances == nil {
			v.Instances = []*postbox.Instance{}
		}
		if f, ok := s.queue.(fencer); ok {
			c := f.Fenced()
			v.Fenced = &c
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// instanceScraper reads the instances from the store at scrape time, and
// this instance's fencing counts from its queue: the instances by state,
// the jobs each running one holds, and the fenced writes. When the store
// cannot answer, the store's families are left out of the scrape rather
// than reported as 0.
func (s *Server) instanceScraper() scraper {
	return func(ctx context.Context, w *bytes.Buffer) {
		if f, ok := s.queue.(fencer); ok {
			n := f.Fenced()
			writeFamily(w, "counter", MetricFenced, []string{"write"}, []sample{
				{[]string{"renew"}, float64(n.Renewals)}, {[]string{"record"}, float64(n.Results)}})
		}
		reg, ok := s.store.(postbox.Registry)
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		list, _, err := reg.Instances(ctx)
		if err != nil {
			return
		}
		states := map[string]int{postbox.InstanceRunning: 0, postbox.InstanceSilent: 0, postbox.InstanceStopped: 0}
		var held []sample
		for _, in := range list {
			states[in.State]++
			if in.State != postbox.InstanceStopped {
				held = append(held, sample{[]string{in.ID}, float64(in.Held)})
			}
		}
		var instances []sample
		for _, st := range []string{postbox.InstanceRunning, postbox.InstanceSilent, postbox.InstanceStopped} {
			instances = append(instances, sample{[]string{st}, float64(states[st])})
		}
		writeFamily(w, "gauge", MetricInstances, []string{"state"}, instances)
		writeFamily(w, "gauge", MetricHeldJobs, []string{"instance_id"}, held)
	}
}
