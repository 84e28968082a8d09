package admin

import (
	"net/http"
	"sync"
	"time"

	"github.com/postbox/postbox"
)

// Request records one answered request: metrics, the per-minute counters,
// the ring of rejections when it was refused, and the live feed. It never
// blocks: a live-feed subscriber that is behind misses the event.
func (s *Server) Request(ev postbox.RequestEvent) {
	rejected := ev.Delivery == "" && ev.Status >= 400
	class := ""
	if rejected {
		class = reasonClass(ev.Status)
	}
	s.metrics.request(ev, class)
	if rejected {
		s.recent.add(ev.Hook, ev.Time, counts{Rejected: 1})
	} else {
		s.recent.add(ev.Hook, ev.Time, counts{Accepted: 1})
	}
	if rejected {
		s.ring.add(ev, class)
	}
	data := requestEventOf(ev, class)
	if h := s.hook(ev.Hook); h != nil && !rejected {
		data.Actions = len(h.Actions)
	}
	s.hub.publish(event{kind: "request", data: data})
	if ev.Delivery != "" {
		s.relayWake.wake()
	}
}

// Attempt records one finished attempt: metrics, the per-minute counters
// and the live feed. It never blocks.
func (s *Server) Attempt(ev postbox.AttemptEvent) {
	s.metrics.attempt(ev)
	if ev.Attempt.Outcome == postbox.OutcomeOK {
		s.recent.add(ev.Hook, s.now(), counts{OK: 1})
	} else {
		s.recent.add(ev.Hook, s.now(), counts{Failed: 1})
	}
	s.hub.publish(event{kind: "attempt", data: attemptEventOf(ev)})
}

// reasonClass is the short, bounded label of a rejection, derived from its
// status: the free-text reason is for logs and the console only.
func reasonClass(status int) string {
	switch status {
	case http.StatusBadRequest, http.StatusLengthRequired:
		return "bad_request"
	case http.StatusUnauthorized, http.StatusForbidden:
		return "auth"
	case http.StatusNotFound:
		return "not_found"
	case http.StatusMethodNotAllowed:
		return "method"
	case http.StatusRequestTimeout:
		return "timeout"
	case http.StatusRequestEntityTooLarge:
		return "too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported"
	case http.StatusUnprocessableEntity:
		return "unprocessable"
	case http.StatusTooManyRequests:
		return "overloaded"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "internal"
	}
	return "other"
}

// requestEvent is a RequestEvent as the live feed sends it.
type requestEvent struct {
	Time       time.Time `json:"time"`
	Hook       string    `json:"hook"`
	Method     string    `json:"method"`
	Path       string    `json:"path"`
	Remote     string    `json:"remote"`
	Status     int       `json:"status"`
	Delivery   string    `json:"delivery,omitempty"`
	Class      string    `json:"class,omitempty"` // set when rejected
	Reason     string    `json:"reason,omitempty"`
	DurationMS float64   `json:"duration_ms"`
	Bytes      int       `json:"bytes"`
	// Actions is the number of actions of the hook (as configured now)
	// for an accepted request.
	Actions int `json:"actions"`
}

func requestEventOf(ev postbox.RequestEvent, class string) requestEvent {
	return requestEvent{Time: ev.Time, Hook: ev.Hook, Method: ev.Method, Path: ev.Path, Remote: ev.Remote,
		Status: ev.Status, Delivery: ev.Delivery, Class: class, Reason: ev.Reason,
		DurationMS: ms(ev.Duration), Bytes: ev.Bytes}
}

// attemptEvent is an AttemptEvent as the live feed sends it (the output
// stays in the store: the console loads it with the delivery).
type attemptEvent struct {
	Hook       string          `json:"hook"`
	Delivery   string          `json:"delivery"`
	Action     int             `json:"action"`
	Series     int             `json:"series"`
	N          int             `json:"n"`
	Kind       string          `json:"kind"`
	Started    time.Time       `json:"started"`
	DurationMS float64         `json:"duration_ms"`
	Outcome    postbox.Outcome `json:"outcome"`
	ExitCode   int             `json:"exit_code"`
	Status     int             `json:"status,omitempty"`
	Error      string          `json:"error,omitempty"`
	Next       postbox.State   `json:"next"`
}

func attemptEventOf(ev postbox.AttemptEvent) attemptEvent {
	a := ev.Attempt
	return attemptEvent{Hook: ev.Hook, Delivery: a.DeliveryID, Action: a.Action, Series: a.Series, N: a.N, Kind: a.Kind,
		Started: a.Started, DurationMS: ms(a.Duration), Outcome: a.Outcome, ExitCode: a.ExitCode, Status: a.Status,
		Error: a.Error, Next: ev.Next}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// counts are one hook's requests and attempts over a span of time.
type counts struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	OK       int `json:"ok"`     // attempts that succeeded
	Failed   int `json:"failed"` // attempts that failed, timed out or could not run
}

// recentMinutes is the span of recent: the last hour.
const recentMinutes = 60

// recent counts each hook's requests and attempts per minute over the
// last hour, in memory, for the hooks page.
type recent struct {
	mu    sync.Mutex
	hooks map[string]*[recentMinutes]minuteCounts
}

type minuteCounts struct {
	minute int64 // minutes since the epoch
	c      counts
}

func newRecent() *recent {
	return &recent{hooks: map[string]*[recentMinutes]minuteCounts{}}
}

func (r *recent) add(hook string, t time.Time, delta counts) {
	m := t.Unix() / 60
	r.mu.Lock()
	defer r.mu.Unlock()
	ring := r.hooks[hook]
	if ring == nil {
		ring = new([recentMinutes]minuteCounts)
		r.hooks[hook] = ring
	}
	b := &ring[m%recentMinutes]
	if b.minute != m {
		*b = minuteCounts{minute: m}
	}
	b.c.plus(delta)
}

func (c *counts) plus(d counts) {
	c.Accepted += d.Accepted
	c.Rejected += d.Rejected
	c.OK += d.OK
	c.Failed += d.Failed
}

// totals sums each hook's counts over the hour before now.
func (r *recent) totals(now time.Time) map[string]counts {
	m := now.Unix() / 60
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]counts, len(r.hooks))
	for hook, ring := range r.hooks {
		var sum counts
		for _, b := range ring {
			if b.minute > m-recentMinutes && b.minute <= m {
				sum.plus(b.c)
			}
		}
		out[hook] = sum
	}
	return out
}
