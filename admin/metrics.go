package admin

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/prom"
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

// metrics holds the Server's metrics in a registry of its own: two Servers
// in one process (tests) never share a series.
type metrics struct {
	reg             *prom.Registry
	requests        *prom.CounterVec
	requestDuration *prom.HistogramVec
	rejections      *prom.CounterVec
	commitDuration  *prom.Histogram
	commitBatch     *prom.Histogram
	attempts        *prom.CounterVec
	actionDuration  *prom.HistogramVec
	deadTotal       *prom.CounterVec
	sseDropped      *prom.Counter
	queue           *queueMetrics
}

func newMetrics(stats *statsCache) *metrics {
	commitDuration := prom.NewHistogramVec(MetricCommitDuration,
		"Duration of one store commit (a group of writes sharing one fsync).",
		prom.ExponentialBuckets(0.00025, 2, 14))
	commitBatch := prom.NewHistogramVec(MetricCommitBatch, "Writes carried by one store commit.",
		prom.ExponentialBuckets(1, 2, 9))
	sseDropped := prom.NewCounterVec(MetricLiveDropped, "Live-feed events dropped because a subscriber was behind.")
	m := &metrics{
		reg: prom.NewRegistry(),
		requests: prom.NewCounterVec(MetricRequests,
			"Requests to hooks answered, by hook and HTTP status (hook is empty when none matched).",
			"hook", "status"),
		requestDuration: prom.NewHistogramVec(MetricRequestDuration,
			"Time from the start of a hook request to its answer, by hook.",
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
			"hook"),
		rejections: prom.NewCounterVec(MetricRejections,
			"Requests refused, by hook and reason class (auth, method, too_large, bad_request, not_found, unavailable, ...).",
			"hook", "reason"),
		commitDuration: commitDuration.With(),
		commitBatch:    commitBatch.With(),
		attempts: prom.NewCounterVec(MetricAttempts,
			"Attempts at actions, by hook, action kind and outcome (ok, failed, timeout, error).",
			"hook", "kind", "outcome"),
		actionDuration: prom.NewHistogramVec(MetricActionDuration,
			"Duration of one attempt at an action, by action kind.",
			[]float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
			"kind"),
		deadTotal: prom.NewCounterVec(MetricDeadTotal,
			"Deliveries that became dead (an action failed its last retry) since the process started, by hook.",
			"hook"),
		sseDropped: sseDropped.With(),
		queue:      newQueueMetrics(),
	}
	m.reg.Register(m.requests, m.requestDuration, m.rejections, commitDuration, commitBatch,
		m.attempts, m.actionDuration, m.deadTotal, sseDropped,
		newStoreCollector(stats),
		prom.GoCollector(),
		prom.ProcessCollector())
	m.reg.Register(m.queue.collectors()...)
	return m
}

// handler serves the registry in the Prometheus text exposition format.
func (m *metrics) handler() http.Handler {
	return m.reg
}

// subscribersGauge exposes the number of open live-feed streams.
func (m *metrics) subscribersGauge(h *hub) {
	m.reg.Register(prom.GaugeFunc(MetricLiveSubscribers, "Open live-feed (SSE) streams.",
		func() float64 { return float64(h.subscribers()) }))
}

func (m *metrics) request(ev postbox.RequestEvent, class string) {
	m.requests.With(ev.Hook, strconv.Itoa(ev.Status)).Inc()
	m.requestDuration.With(ev.Hook).Observe(ev.Duration.Seconds())
	if class != "" {
		m.rejections.With(ev.Hook, class).Inc()
	}
}

func (m *metrics) attempt(ev postbox.AttemptEvent) {
	a := ev.Attempt
	m.attempts.With(ev.Hook, a.Kind, string(a.Outcome)).Inc()
	m.actionDuration.With(a.Kind).Observe(a.Duration.Seconds())
	if ev.Next == postbox.StateDead {
		m.deadTotal.With(ev.Hook).Inc()
	}
	m.queue.attempt(ev)
}

// observeCommit is the store's commit observer.
func (m *metrics) observeCommit(d time.Duration, n int) {
	m.commitDuration.Observe(d.Seconds())
	m.commitBatch.Observe(float64(n))
}

// storeCollector reads the store's counts at scrape time: deliveries by
// hook and state, pending ones (the queue depth) and dead ones.
type storeCollector struct {
	stats  *statsCache
	errors *prom.CounterVec
}

func newStoreCollector(stats *statsCache) *storeCollector {
	return &storeCollector{stats: stats, errors: prom.NewCounterVec(MetricStatsScrapeError,
		"Scrapes that could not read the store's counts.")}
}

// Collect reads Store.HookStats and appends one series per hook and state.
// When the store cannot answer, it counts the error and leaves the store's
// gauges out of the scrape rather than report them as 0.
func (c *storeCollector) Collect(ctx context.Context, dst []prom.Family) []prom.Family {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	stats, err := c.stats.get(ctx)
	if err != nil {
		c.errors.With().Inc()
		return c.errors.Collect(ctx, dst)
	}
	deliveries := prom.Family{Name: MetricDeliveries, Help: "Stored deliveries, by hook and state.",
		Type: prom.GaugeType, Labels: []string{"hook", "state"}}
	depth := prom.Family{Name: MetricQueueDepth, Help: "Deliveries whose actions have not finished (state pending), by hook.",
		Type: prom.GaugeType, Labels: []string{"hook"}}
	dead := prom.Family{Name: MetricDeadDeliveries, Help: "Stored deliveries whose action failed its last retry, by hook.",
		Type: prom.GaugeType, Labels: []string{"hook"}}
	for _, st := range stats {
		for state, n := range st.States {
			deliveries.Series = append(deliveries.Series, prom.Series{LabelValues: []string{st.Hook, string(state)}, Value: float64(n)})
		}
		depth.Series = append(depth.Series, prom.Series{LabelValues: []string{st.Hook}, Value: float64(st.States[postbox.StatePending])})
		dead.Series = append(dead.Series, prom.Series{LabelValues: []string{st.Hook}, Value: float64(st.States[postbox.StateDead])})
	}
	return c.errors.Collect(ctx, append(dst, deliveries, depth, dead))
}
