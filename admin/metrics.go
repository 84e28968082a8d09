package admin

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/postbox/postbox"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
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

// metrics holds the Server's collectors in a registry of its own: two
// Servers in one process (tests) never share a series.
type metrics struct {
	reg             *prometheus.Registry
	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	rejections      *prometheus.CounterVec
	commitDuration  prometheus.Histogram
	commitBatch     prometheus.Histogram
	attempts        *prometheus.CounterVec
	actionDuration  *prometheus.HistogramVec
	deadTotal       *prometheus.CounterVec
	sseDropped      prometheus.Counter
}

func newMetrics(stats *statsCache) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRequests,
			Help: "Requests to hooks answered, by hook and HTTP status (hook is empty when none matched)."},
			[]string{"hook", "status"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricRequestDuration,
			Help:    "Time from the start of a hook request to its answer, by hook.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}},
			[]string{"hook"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricRejections,
			Help: "Requests refused, by hook and reason class (auth, method, too_large, bad_request, not_found, unavailable, ...)."},
			[]string{"hook", "reason"}),
		commitDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: MetricCommitDuration,
			Help:    "Duration of one store commit (a group of writes sharing one fsync).",
			Buckets: prometheus.ExponentialBuckets(0.00025, 2, 14)}),
		commitBatch: prometheus.NewHistogram(prometheus.HistogramOpts{Name: MetricCommitBatch,
			Help:    "Writes carried by one store commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 9)}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricAttempts,
			Help: "Attempts at actions, by hook, action kind and outcome (ok, failed, timeout, error)."},
			[]string{"hook", "kind", "outcome"}),
		actionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: MetricActionDuration,
			Help:    "Duration of one attempt at an action, by action kind.",
			Buckets: []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}},
			[]string{"kind"}),
		deadTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: MetricDeadTotal,
			Help: "Deliveries that became dead (an action failed its last retry) since the process started, by hook."},
			[]string{"hook"}),
		sseDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricLiveDropped,
			Help: "Live-feed events dropped because a subscriber was behind."}),
	}
	m.reg.MustRegister(m.requests, m.requestDuration, m.rejections, m.commitDuration, m.commitBatch,
		m.attempts, m.actionDuration, m.deadTotal, m.sseDropped,
		newStoreCollector(stats),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// handler serves the registry in the Prometheus exposition format.
func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError,
		Timeout: 10 * time.Second})
}

// subscribersGauge exposes the number of open live-feed streams.
func (m *metrics) subscribersGauge(h *hub) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: MetricLiveSubscribers,
		Help: "Open live-feed (SSE) streams."}, func() float64 { return float64(h.subscribers()) }))
}

func (m *metrics) request(ev postbox.RequestEvent, class string) {
	m.requests.WithLabelValues(ev.Hook, strconv.Itoa(ev.Status)).Inc()
	m.requestDuration.WithLabelValues(ev.Hook).Observe(ev.Duration.Seconds())
	if class != "" {
		m.rejections.WithLabelValues(ev.Hook, class).Inc()
	}
}

func (m *metrics) attempt(ev postbox.AttemptEvent) {
	a := ev.Attempt
	m.attempts.WithLabelValues(ev.Hook, a.Kind, string(a.Outcome)).Inc()
	m.actionDuration.WithLabelValues(a.Kind).Observe(a.Duration.Seconds())
	if ev.Next == postbox.StateDead {
		m.deadTotal.WithLabelValues(ev.Hook).Inc()
	}
}

// observeCommit is the store's commit observer.
func (m *metrics) observeCommit(d time.Duration, n int) {
	m.commitDuration.Observe(d.Seconds())
	m.commitBatch.Observe(float64(n))
}

// storeCollector reads the store's counts at scrape time: deliveries by
// hook and state, pending ones (the queue depth) and dead ones.
type storeCollector struct {
	stats      *statsCache
	deliveries *prometheus.Desc
	depth      *prometheus.Desc
	dead       *prometheus.Desc
	errors     prometheus.Counter
}

func newStoreCollector(stats *statsCache) *storeCollector {
	return &storeCollector{
		stats: stats,
		deliveries: prometheus.NewDesc(MetricDeliveries, "Stored deliveries, by hook and state.",
			[]string{"hook", "state"}, nil),
		depth: prometheus.NewDesc(MetricQueueDepth, "Deliveries whose actions have not finished (state pending), by hook.",
			[]string{"hook"}, nil),
		dead: prometheus.NewDesc(MetricDeadDeliveries, "Stored deliveries whose action failed its last retry, by hook.",
			[]string{"hook"}, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: MetricStatsScrapeError,
			Help: "Scrapes that could not read the store's counts."}),
	}
}

// Describe sends the collector's descriptions.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.deliveries
	ch <- c.depth
	ch <- c.dead
	c.errors.Describe(ch)
}

// Collect reads Store.HookStats and sends one series per hook and state.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stats, err := c.stats.get(ctx)
	if err != nil {
		c.errors.Inc()
		ch <- c.errors
		ch <- prometheus.NewInvalidMetric(c.deliveries, err)
		return
	}
	ch <- c.errors
	for _, st := range stats {
		for state, n := range st.States {
			ch <- prometheus.MustNewConstMetric(c.deliveries, prometheus.GaugeValue, float64(n), st.Hook, string(state))
		}
		ch <- prometheus.MustNewConstMetric(c.depth, prometheus.GaugeValue, float64(st.States[postbox.StatePending]), st.Hook)
		ch <- prometheus.MustNewConstMetric(c.dead, prometheus.GaugeValue, float64(st.States[postbox.StateDead]), st.Hook)
	}
}
