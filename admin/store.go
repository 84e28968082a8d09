package admin

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/prune"
)

// Metric names of the store's size and retention.
const (
	MetricStoreSize     = "postbox_store_size_bytes"             // - (SQLite: the file and its WAL)
	MetricStoreFree     = "postbox_store_free_bytes"             // - (SQLite: pages not yet given back)
	MetricStoreRows     = "postbox_store_rows"                   // - deliveries
	MetricStoreMaxSize  = "postbox_store_max_size_bytes"         // - retention.max_size, 0 for none
	MetricPruned        = "postbox_store_pruned_total"           // rule
	MetricPruneDuration = "postbox_store_prune_duration_seconds" // -
)

// retentionState is what the Server knows of the store's retention: set
// once by SetRetention; its zero value shows none.
type retentionState struct {
	get      atomic.Pointer[func() prune.Retention]
	once     sync.Once
	pruned   *vec[string, vm.Counter]
	duration *vm.PrometheusHistogram
}

// SetRetention tells the Server the retention in force (the retainer's
// Retention method: it follows reloads), for GET /api/store, and adds the
// store's size and pruning to /metrics. postbox serve calls it once.
func (s *Server) SetRetention(get func() prune.Retention) {
	s.retention.get.Store(&get)
	s.retention.once.Do(func() {
		r := &s.retention
		set := s.metrics.set
		r.pruned = counterVec(set, func(rule string) string { return seriesName(MetricPruned, "rule", rule) })
		r.duration = set.NewPrometheusHistogramExt(MetricPruneDuration, vm.ExponentialBuckets(0.001, 4, 10))
		set.NewGauge(MetricStoreMaxSize, func() float64 { return float64(s.currentRetention().MaxSize) })
		if sz, ok := s.store.(prune.Sizer); ok {
			size := func() prune.Size {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				v, _ := sz.Size(ctx)
				return v
			}
			set.NewGauge(MetricStoreSize, func() float64 { v := size(); return float64(v.Used + v.Free + v.WAL) })
			set.NewGauge(MetricStoreFree, func() float64 { return float64(size().Free) })
		}
		set.NewGauge(MetricStoreRows, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			stats, _ := s.stats.get(ctx)
			n := 0
			for _, st := range stats {
				n += st.Total
			}
			return float64(n)
		})
	})
}

// currentRetention is the retention in force, or none.
func (s *Server) currentRetention() prune.Retention {
	if get := s.retention.get.Load(); get != nil {
		return (*get)()
	}
	return prune.Retention{}
}

// ObservePrune counts what a retention pass removed (for metrics).
func (s *Server) ObservePrune(rep prune.Report) {
	r := &s.retention
	if r.pruned == nil {
		return
	}
	for _, x := range rep.Removed {
		r.pruned.with(string(x.Rule)).AddInt64(x.N)
	}
	r.duration.Update(rep.Duration.Seconds())
}

// storeView is GET /api/store: the store's stats judged against its
// retention.
type storeView struct {
	prune.Outlook
	Policy struct {
		Default prune.Policy            `json:"default"`
		Hooks   map[string]prune.Policy `json:"hooks,omitempty"`
	} `json:"policy"`
}

// handleStore serves GET /api/store: size, deliveries, oldest, bytes per
// hook, growth and time to max_size. It reads every delivery's lengths,
// so it is for a person asking, not a dashboard polling.
func (s *Server) handleStore() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, ok := s.store.(prune.Statser)
		if !ok {
			writeError(w, postbox.Errorf(postbox.EUNAVAILABLE, "this store does not describe itself"))
			return
		}
		stats, err := st.StoreStats(r.Context(), s.now())
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if stats.Hooks == nil {
			stats.Hooks = []prune.HookBytes{}
		}
		ret := s.currentRetention()
		v := storeView{Outlook: stats.Outlook(ret)}
		v.Policy.Default, v.Policy.Hooks = ret.Default, ret.Hooks
		writeJSON(w, http.StatusOK, v)
	})
}
