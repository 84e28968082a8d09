package admin

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/postbox/postbox"
)

// hookInfo is one hook in GET /api/hooks: its configuration as the console
// shows it, the stored deliveries by state and the last hour's counts.
type hookInfo struct {
	ID      string   `json:"id"`
	Path    string   `json:"path,omitempty"`
	URL     string   `json:"url,omitempty"`
	Methods []string `json:"methods"`
	Auth    []string `json:"auth"`
	Actions []string `json:"actions"`
	Sync    bool     `json:"sync"`
	// Configured is false for a hook that has stored deliveries but is no
	// longer in the configuration.
	Configured bool                  `json:"configured"`
	States     map[postbox.State]int `json:"states"`
	Total      int                   `json:"total"`
	Last       *time.Time            `json:"last,omitempty"`
	// Recent counts, since this process started, the last hour's requests
	// and attempts.
	Recent counts `json:"recent"`
}

// handleHooks lists the configured hooks with their counts, then hooks
// that only the store still knows.
func (s *Server) handleHooks() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var stats []postbox.HookStats
		if r.URL.Query().Get("counts") != "false" {
			var err error
			if stats, err = s.stats.get(r.Context()); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		byHook := make(map[string]postbox.HookStats, len(stats))
		for _, st := range stats {
			byHook[st.Hook] = st
		}
		recent := s.recent.totals(s.now())
		var out []hookInfo
		for _, h := range s.hooks.Load().list {
			info := hookInfo{ID: h.ID, Path: h.Path, URL: s.hookBase + h.Path, Methods: h.Methods, Auth: authLabels(h),
				Actions: make([]string, len(h.Actions)), Sync: h.Sync, Configured: true, Recent: recent[h.ID]}
			for i, a := range h.Actions {
				info.Actions[i] = a.Kind()
			}
			info.fill(byHook[h.ID])
			delete(byHook, h.ID)
			out = append(out, info)
		}
		for _, st := range stats {
			if _, ok := byHook[st.Hook]; !ok {
				continue
			}
			info := hookInfo{ID: st.Hook, Methods: []string{}, Auth: []string{}, Actions: []string{}, Recent: recent[st.Hook]}
			info.fill(st)
			out = append(out, info)
		}
		if out == nil {
			out = []hookInfo{}
		}
		writeJSON(w, http.StatusOK, map[string]any{"hooks": out})
	})
}

func (h *hookInfo) fill(st postbox.HookStats) {
	h.States, h.Total = st.States, st.Total
	if h.States == nil {
		h.States = map[postbox.State]int{}
	}
	if !st.Last.IsZero() {
		last := st.Last
		h.Last = &last
	}
}

// hook returns the configured hook id, or nil.
func (s *Server) hook(id string) *postbox.Hook {
	return s.hooks.Load().byID[id]
}

// schemer is implemented by verifiers that know the name of their scheme
// as written under auth: in the configuration ("github", "stripe"). The
// console shows it; verifiers without it are named after their Go type.
type schemer interface{ Scheme() string }

// authLabels names each of h's checks.
func authLabels(h *postbox.Hook) []string {
	out := make([]string, len(h.Auth))
	for i, v := range h.Auth {
		if i < len(h.AuthNames) {
			out[i] = h.AuthNames[i] // as configured
			continue
		}
		out[i] = authLabel(v)
	}
	return out
}

func authLabel(v postbox.Verifier) string {
	if n, ok := v.(schemer); ok {
		return n.Scheme()
	}
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Name() == "" {
		return "custom"
	}
	name := strings.TrimSuffix(t.Name(), "Verifier")
	if name == "mac" {
		return "hmac"
	}
	r := []rune(name)
	r[0] = unicode.ToLower(r[0])
	return string(r)
}

// Per-minute counts over the store.
const (
	defaultMinutes = 60
	maxMinutes     = 24 * 60
	// maxScan caps the deliveries one /api/stats/minutes call reads, so
	// that a busy hour costs bounded work; the answer then says where its
	// counts start (complete: false).
	maxScan  = 20000
	scanPage = 1000
)

// minuteBucket counts the deliveries received in one minute, by their
// current state.
type minuteBucket struct {
	T      time.Time             `json:"t"`
	Total  int                   `json:"total"`
	States map[postbox.State]int `json:"states"`
}

// minutesAnswer is the answer of GET /api/stats/minutes.
type minutesAnswer struct {
	Hook    string         `json:"hook,omitempty"`
	Start   time.Time      `json:"start"`
	Buckets []minuteBucket `json:"buckets"`
	// Complete is false when more than maxScan deliveries fell in the
	// window: the counts then cover only the minutes from Covered on.
	Complete bool      `json:"complete"`
	Covered  time.Time `json:"covered"`
}

// handleMinutes counts a hook's deliveries (or every hook's) per minute
// over the last ?minutes= minutes (60 by default), oldest first.
func (s *Server) handleMinutes() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		minutes := defaultMinutes
		if v := r.URL.Query().Get("minutes"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxMinutes {
				writeError(w, postbox.Errorf(postbox.EINVALID, "minutes=%q: use a number from 1 to %d", v, maxMinutes))
				return
			}
			minutes = n
		}
		hook := r.URL.Query().Get("hook")
		end := s.now().UTC().Truncate(time.Minute).Add(time.Minute)
		start := end.Add(-time.Duration(minutes) * time.Minute)
		ans := minutesAnswer{Hook: hook, Start: start, Buckets: make([]minuteBucket, minutes), Complete: true, Covered: start}
		for i := range ans.Buckets {
			ans.Buckets[i] = minuteBucket{T: start.Add(time.Duration(i) * time.Minute), States: map[postbox.State]int{}}
		}
		// Pages are read newest first by id without a Since bound: ids sort
		// by reception, so the walk stops at the first delivery older than
		// the window, instead of the store scanning every older row for
		// received >= since.
		f := postbox.DeliveryFilter{Hook: hook, Until: end, Limit: scanPage}
		for scanned := 0; ; {
			list, err := s.store.Deliveries(r.Context(), f)
			if err != nil {
				s.fail(w, r, err)
				return
			}
			older := false
			for _, d := range list {
				i := int(d.Received.Sub(start) / time.Minute)
				if d.Received.Before(start) {
					older = true
					continue
				}
				if i >= minutes {
					continue
				}
				ans.Buckets[i].Total++
				ans.Buckets[i].States[d.State]++
			}
			scanned += len(list)
			if older || len(list) < f.Limit {
				break
			}
			f.Before = list[len(list)-1].ID
			if scanned >= maxScan {
				ans.Complete = false
				// The oldest minute read may be partly counted: start after it.
				ans.Covered = list[len(list)-1].Received.Truncate(time.Minute).Add(time.Minute)
				break
			}
		}
		writeJSON(w, http.StatusOK, ans)
	})
}

// statsCacheTTL is how long HookStats answers are shared: the query reads
// every delivery, so scrapes and consoles that come together pay it once.
const statsCacheTTL = 2 * time.Second

// statsCache shares Store.HookStats between /api/hooks and /metrics. One
// query runs at a time; callers meanwhile wait for its answer.
type statsCache struct {
	store Store
	now   func() time.Time
	mu    sync.Mutex
	at    time.Time
	stats []postbox.HookStats
}

func (c *statsCache) get(ctx context.Context) ([]postbox.HookStats, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); c.stats != nil && now.Sub(c.at) < statsCacheTTL && !now.Before(c.at) {
		return c.stats, nil
	}
	stats, err := c.store.HookStats(ctx)
	if err != nil {
		return nil, err
	}
	if stats == nil {
		stats = []postbox.HookStats{}
	}
	c.stats, c.at = stats, c.now()
	return stats, nil
}
