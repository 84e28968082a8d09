package admin

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/queue"
)

// Queue is what the admin shows of the queue and steers: the state of each
// destination, and resuming one by hand.
type Queue interface {
	Destinations() []queue.DestinationStatus
	Resume(name string) error
}

// Metric names of the delivery engine.
const (
	MetricQueueJobs           = "postbox_queue_jobs"                         // state: due, claimed, all
	MetricQueueOldestDue      = "postbox_queue_oldest_due_seconds"           // -
	MetricDestinationAttempts = "postbox_destination_attempts_total"         // destination, outcome
	MetricDestinationState    = "postbox_destination_state"                  // destination, state
	MetricDestinationInFlight = "postbox_destination_in_flight"              // destination
	MetricFirstAttemptLag     = "postbox_delivery_first_attempt_lag_seconds" // -
	MetricDoneLag             = "postbox_delivery_done_lag_seconds"          // -
)

// lagBuckets span a call that starts at once to a backlog of an hour.
var lagBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}

// queueMetrics are the delivery engine's series: lag histograms and
// attempts per destination from the attempts observed, backlog and
// destination states read at scrape time.
type queueMetrics struct {
	destAttempts *vec[destOutcome, vm.Counter]
	firstAttempt *vm.PrometheusHistogram
	done         *vm.PrometheusHistogram
}

// destOutcome labels postbox_destination_attempts_total.
type destOutcome struct{ destination, outcome string }

func newQueueMetrics(set *vm.Set) *queueMetrics {
	return &queueMetrics{
		destAttempts: counterVec(set, func(k destOutcome) string {
			return seriesName(MetricDestinationAttempts, "destination", k.destination, "outcome", k.outcome)
		}),
		firstAttempt: set.NewPrometheusHistogramExt(MetricFirstAttemptLag, lagBuckets),
		done:         set.NewPrometheusHistogramExt(MetricDoneLag, lagBuckets),
	}
}

// attempt counts ev by destination and observes the delivery's lag.
func (m *queueMetrics) attempt(ev postbox.AttemptEvent) {
	a := ev.Attempt
	if ev.Destination != "" {
		m.destAttempts.with(destOutcome{ev.Destination, string(a.Outcome)}).Inc()
	}
	if ev.Received.IsZero() {
		return
	}
	if a.Series == 0 && a.Action == 0 && a.N == 1 {
		m.firstAttempt.Update(max(a.Started.Sub(ev.Received), 0).Seconds())
	}
	if ev.Last && ev.Next == postbox.StateDone && a.Outcome == postbox.OutcomeOK && a.Series == 0 {
		m.done.Update(max(a.Started.Add(a.Duration).Sub(ev.Received), 0).Seconds())
	}
}

// queueScraper reads the backlog and the destinations at scrape time.
func (s *Server) queueScraper() scraper {
	return func(ctx context.Context, w *bytes.Buffer) {
		if b, ok := s.store.(postbox.Backlogger); ok {
			ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if bl, err := b.Backlog(ctx); err == nil {
				writeFamily(w, "gauge", MetricQueueJobs, []string{"state"}, []sample{
					{[]string{"due"}, float64(bl.Due)},
					{[]string{"claimed"}, float64(bl.Leased)},
					{[]string{"all"}, float64(bl.Jobs)}})
				age := 0.0
				if !bl.OldestDue.IsZero() {
					age = max(s.now().Sub(bl.OldestDue).Seconds(), 0)
				}
				writeFamily(w, "gauge", MetricQueueOldestDue, nil, []sample{{nil, age}})
			}
		}
		if s.queue == nil {
			return
		}
		var state, inFlight []sample
		for _, d := range s.queue.Destinations() {
			for _, st := range []string{queue.Closed, queue.Open, queue.HalfOpen, queue.Paused} {
				v := 0.0
				if d.State == st {
					v = 1
				}
				state = append(state, sample{[]string{d.Name, st}, v})
			}
			inFlight = append(inFlight, sample{[]string{d.Name}, float64(d.InFlight)})
		}
		writeFamily(w, "gauge", MetricDestinationState, []string{"destination", "state"}, state)
		writeFamily(w, "gauge", MetricDestinationInFlight, []string{"destination"}, inFlight)
	}
}

// backlogView is the answer of GET /api/backlog.
type backlogView struct {
	postbox.Backlog
	// OldestDueAge is how long the oldest due job has waited, in seconds.
	OldestDueAge float64 `json:"oldest_due_age_seconds"`
}

func (s *Server) handleBacklog() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := s.store.(postbox.Backlogger)
		if !ok {
			writeError(w, postbox.Errorf(postbox.EUNAVAILABLE, "this store does not report its backlog"))
			return
		}
		bl, err := b.Backlog(r.Context())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		v := backlogView{Backlog: bl}
		if !bl.OldestDue.IsZero() {
			v.OldestDueAge = max(s.now().Sub(bl.OldestDue).Seconds(), 0)
		}
		writeJSON(w, http.StatusOK, v)
	})
}

func (s *Server) handleDestinations() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ds := []queue.DestinationStatus{}
		if s.queue != nil {
			ds = s.queue.Destinations()
		}
		writeJSON(w, http.StatusOK, map[string]any{"destinations": ds})
	})
}

// handleResume closes a destination's breaker: {"name": "http://host:port"}.
func (s *Server) handleResume() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Name string `json:"name"`
		}
		if err := decodeJSON(w, r, 64<<10, &req); err != nil {
			writeError(w, postbox.Errorf(postbox.ErrorCode(err), "%s; send {\"name\": \"http://host:port\"}", postbox.ErrorMessage(err)))
			return
		}
		if s.queue == nil {
			writeError(w, postbox.Errorf(postbox.EUNAVAILABLE, "no queue runs in this process"))
			return
		}
		if err := s.queue.Resume(req.Name); err != nil {
			if errors.Is(err, queue.ErrUnknownDestination) {
				err = postbox.Errorf(postbox.ENOTFOUND, "no destination %q; GET /api/destinations lists them", req.Name)
			}
			s.fail(w, r, err)
			return
		}
		s.logger.Info("destination resumed", "destination", req.Name, "remote", r.RemoteAddr)
		writeJSON(w, http.StatusOK, map[string]string{"resumed": req.Name})
	})
}
