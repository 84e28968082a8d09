package admin

import (
	"bytes"
	"context"
	"strconv"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/postbox/postbox"
)

// Metric names, as /metrics exposes them and deploy/grafana-dashboard.json
// queries them. Label values are bounded: hook ids from the configuration,
// statuses, short reason classes, action kinds, outcomes and states.
const (
	MetricRequests         = "postbox_requests_total"                // hook, status
	MetricRequestDuration  = "postbox_request_duration_seconds"      // hook
	MetricRejections       = "postbox_rejections_total"              // hook, reason
	MetricCommitDuration   = "postbox_store_commit_duration_seconds" // -
	MetricCommitBatch      = "postbox_store_commit_batch_size"       // -
	MetricQueueDepth       = "postbox_queue_depth"                   // hook
	MetricDeliveries       = "postbox_deliveries"                    // hook, state
	MetricDeadDeliveries   = "postbox_dead_deliveries"               // hook
	MetricDeadTotal        = "postbox_deliveries_dead_total"         // hook
	MetricAttempts         = "postbox_attempts_total"                // hook, kind, outcome
	MetricActionDuration   = "postbox_action_duration_seconds"       // kind
	MetricLiveSubscribers  = "postbox_live_subscribers"              // -
	MetricLiveDropped      = "postbox_live_events_dropped_total"     // -
	MetricStatsScrapeError = "postbox_stats_scrape_errors_total"     // -
)

// helpTexts are the # HELP lines of postbox's families. The client writes
// a # HELP line without text; /metrics adds these.
var helpTexts = map[string]string{
	MetricRequests:         "Requests to hooks answered, by hook and HTTP status (hook is empty when none matched).",
	MetricRequestDuration:  "Time from the start of a hook request to its answer, by hook.",
	MetricRejections:       "Requests refused, by hook and reason class (auth, method, too_large, bad_request, not_found, unavailable, ...).",
	MetricCommitDuration:   "Duration of one store commit (a group of writes sharing one fsync).",
	MetricCommitBatch:      "Writes carried by one store commit.",
	MetricQueueDepth:       "Deliveries whose actions have not finished (state pending), by hook.",
	MetricDeliveries:       "Stored deliveries, by hook and state.",
	MetricDeadDeliveries:   "Stored deliveries whose action failed its last retry, by hook.",
	MetricDeadTotal:        "Deliveries that became dead (an action failed its last retry) since the process started, by hook.",
	MetricAttempts:         "Attempts at actions, by hook, action kind and outcome (ok, failed, timeout, error).",
	MetricActionDuration:   "Duration of one attempt at an action, by action kind.",
	MetricLiveSubscribers:  "Open live-feed (SSE) streams.",
	MetricLiveDropped:      "Live-feed events dropped because a subscriber was behind.",
	MetricStatsScrapeError: "Scrapes that could not read the store's counts.",

	MetricQueueJobs:           "Jobs with work left, by state: due (waiting for a worker), claimed (running or about to), all (with retries not yet due).",
	MetricQueueOldestDue:      "Age of the job that has waited longest for a worker since it became due (0 when none waits).",
	MetricDestinationAttempts: "Attempts at actions, by destination (scheme://host:port, broker, exec:command) and outcome.",
	MetricDestinationState:    "1 for each destination's breaker state (closed, open, half-open, paused).",
	MetricDestinationInFlight: "Calls under way to each destination.",
	MetricFirstAttemptLag:     "Time from a delivery's receipt to the start of its first attempt.",
	MetricDoneLag:             "Time from a delivery's receipt to the end of its last action's successful attempt.",

	MetricStoreSize:     "Bytes the store takes on disk: the database file and its WAL.",
	MetricStoreFree:     "Bytes of the database file that deleted rows left and that are not yet given back to the disk.",
	MetricStoreRows:     "Deliveries stored.",
	MetricStoreMaxSize:  "The store's retention.max_size in bytes; 0 when it has none.",
	MetricPruned:        "Deliveries removed by retention, by rule (max_age, dead_max_age, max_deliveries, max_size; dedup_window counts expired dedup keys).",
	MetricPruneDuration: "Duration of one retention pass over the store.",

	MetricInstances: "Instances registered in the store, by state (silent: no heartbeat for 30 s).",
	MetricHeldJobs:  "Jobs each instance that is not stopped holds (leases not run out), by instance id.",
	MetricFenced:    "Writes of this instance that the store refused because another claim held the job: renewals, and results recorded too late.",
}

// Bucket upper bounds of the histograms (+Inf is implied). A changed bound
// breaks every histogram_quantile over a range that spans the change.
var (
	requestBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	actionBuckets  = []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}
	commitBuckets  = vm.ExponentialBuckets(0.00025, 2, 14)
	batchBuckets   = vm.ExponentialBuckets(1, 2, 9)
)

// Label values of the counter families.
type (
	hookStatus  struct{ hook, status string }
	hookReason  struct{ hook, reason string }
	hookAttempt struct{ hook, kind, outcome string }
)

// metrics holds the Server's metrics in a set of its own: two Servers in
// one process (tests) never share a series.
type metrics struct {
	set             *vm.Set
	requests        *vec[hookStatus, vm.Counter]
	requestDuration *vec[string, vm.PrometheusHistogram]
	rejections      *vec[hookReason, vm.Counter]
	commitDuration  *vm.PrometheusHistogram
	commitBatch     *vm.PrometheusHistogram
	attempts        *vec[hookAttempt, vm.Counter]
	actionDuration  *vec[string, vm.PrometheusHistogram]
	deadTotal       *vec[string, vm.Counter]
	sseDropped      *vm.Counter
	scrapeErrors    *vm.Counter
	queue           *queueMetrics
	// scrapers write the families read at scrape time; New sets them.
	scrapers []scraper
}

func newMetrics(stats *statsCache) *metrics {
	// # TYPE lines (and # HELP, which ServeHTTP fills in) are off by
	// default in the client, and Prometheus needs the types.
	vm.ExposeMetadata(true)
	set := vm.NewSet()
	m := &metrics{
		set: set,
		requests: counterVec(set, func(k hookStatus) string {
			return seriesName(MetricRequests, "hook", k.hook, "status", k.status)
		}),
		requestDuration: histogramVec(set, requestBuckets, func(hook string) string {
			return seriesName(MetricRequestDuration, "hook", hook)
		}),
		rejections: counterVec(set, func(k hookReason) string {
			return seriesName(MetricRejections, "hook", k.hook, "reason", k.reason)
		}),
		commitDuration: set.NewPrometheusHistogramExt(MetricCommitDuration, commitBuckets),
		commitBatch:    set.NewPrometheusHistogramExt(MetricCommitBatch, batchBuckets),
		attempts: counterVec(set, func(k hookAttempt) string {
			return seriesName(MetricAttempts, "hook", k.hook, "kind", k.kind, "outcome", k.outcome)
		}),
		actionDuration: histogramVec(set, actionBuckets, func(kind string) string {
			return seriesName(MetricActionDuration, "kind", kind)
		}),
		deadTotal: counterVec(set, func(hook string) string {
			return seriesName(MetricDeadTotal, "hook", hook)
		}),
		sseDropped:   set.NewCounter(MetricLiveDropped),
		scrapeErrors: set.NewCounter(MetricStatsScrapeError),
		queue:        newQueueMetrics(set),
	}
	m.scrapers = append(m.scrapers, storeScraper(stats, m.scrapeErrors))
	return m
}

// subscribersGauge exposes the number of open live-feed streams.
func (m *metrics) subscribersGauge(h *hub) {
	m.set.NewGauge(MetricLiveSubscribers, func() float64 { return float64(h.subscribers()) })
}

func (m *metrics) request(ev postbox.RequestEvent, class string) {
	m.requests.with(hookStatus{ev.Hook, statusText(ev.Status)}).Inc()
	m.requestDuration.with(ev.Hook).Update(ev.Duration.Seconds())
	if class != "" {
		m.rejections.with(hookReason{ev.Hook, class}).Inc()
	}
}

// statusText is strconv.Itoa without an allocation for the statuses
// postbox answers.
func statusText(status int) string {
	switch status {
	case 200:
		return "200"
	case 202:
		return "202"
	}
	return strconv.Itoa(status)
}

func (m *metrics) attempt(ev postbox.AttemptEvent) {
	a := ev.Attempt
	m.attempts.with(hookAttempt{ev.Hook, a.Kind, string(a.Outcome)}).Inc()
	m.actionDuration.with(a.Kind).Update(a.Duration.Seconds())
	if ev.Next == postbox.StateDead {
		m.deadTotal.with(ev.Hook).Inc()
	}
	m.queue.attempt(ev)
}

// observeCommit is the store's commit observer.
func (m *metrics) observeCommit(d time.Duration, n int) {
	m.commitDuration.Update(d.Seconds())
	m.commitBatch.Update(float64(n))
}

// storeScraper reads the store's counts at scrape time: deliveries by hook
// and state, pending ones (the queue depth) and dead ones. When the store
// cannot answer, it counts the error and leaves the store's gauges out of
// the scrape rather than report them as 0.
func storeScraper(stats *statsCache, errors *vm.Counter) scraper {
	return func(ctx context.Context, w *bytes.Buffer) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err := stats.get(ctx)
		if err != nil {
			errors.Inc()
			return
		}
		var deliveries, depth, dead []sample
		for _, h := range st {
			for state, n := range h.States {
				deliveries = append(deliveries, sample{[]string{h.Hook, string(state)}, float64(n)})
			}
			depth = append(depth, sample{[]string{h.Hook}, float64(h.States[postbox.StatePending])})
			dead = append(dead, sample{[]string{h.Hook}, float64(h.States[postbox.StateDead])})
		}
		writeFamily(w, "gauge", MetricDeliveries, []string{"hook", "state"}, deliveries)
		writeFamily(w, "gauge", MetricQueueDepth, []string{"hook"}, depth)
		writeFamily(w, "gauge", MetricDeadDeliveries, []string{"hook"}, dead)
	}
}
