package admin

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/prom"
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
	pruned   *prom.CounterVec
	duration *prom.Histogram
}

// SetRetention tells the Server the retention in force (the retainer's
// Retention method: it follows reloads), for GET /api/store, and adds the
// store's size and pruning to /metrics. postbox serve calls it once.
func (s *Server) SetRetention(get func() prune.Retention) {
	s.retention.get.Store(&get)
	s.retention.once.Do(func() {
		r := &s.retention
		r.pruned = prom.NewCounterVec(MetricPruned,
			"Deliveries removed by retention, by rule (max_age, dead_max_age, max_deliveries, max_size; dedup_window counts expired dedup keys).",
			"rule")
		duration := prom.NewHistogramVec(MetricPruneDuration, "Duration of one retention pass over the store.",
			prom.ExponentialBuckets(0.001, 4, 10))
		r.duration = duration.With()
		s.metrics.reg.Register(r.pruned, duration, prom.GaugeFunc(MetricStoreMaxSize,
			"The store's retention.max_size in bytes; 0 when it has none.",
			func() float64 { return float64(s.currentRetention().MaxSize) }))
		if sz, ok := s.store.(prune.Sizer); ok {
			size := func() prune.Size {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				v, _ := sz.Size(ctx)
				return v
			}
			s.metrics.reg.Register(
				prom.GaugeFunc(MetricStoreSize, "Bytes the store takes on disk: the database file and its WAL.",
					func() float64 { v := size(); return float64(v.Used + v.Free + v.WAL) }),
				prom.GaugeFunc(MetricStoreFree, "Bytes of the database file that deleted rows left and that are not yet given back to the disk.",
					func() float64 { return float64(size().Free) }))
		}
		s.metrics.reg.Register(prom.GaugeFunc(MetricStoreRows, "Deliveries stored.", func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			stats, _ := s.stats.get(ctx)
			n := 0
			for _, st := range stats {
				n += st.Total
			}
			return float64(n)
		}))
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
		r.pruned.With(string(x.Rule)).Add(uint64(x.N))
	}
	r.duration.Observe(rep.Duration.Seconds())
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
