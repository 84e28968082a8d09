package admin

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	vm "github.com/VictoriaMetrics/metrics"

	"github.com/postbox/postbox"
)

// event is one message of the live feed: kind is the SSE event name
// ("request", "attempt"), data is encoded as JSON by each stream.
type event struct {
	kind string
	data any
}

// hub fans events out to the live-feed subscribers. Publishing never
// blocks: each subscriber has a bounded buffer, and an event that does not
// fit is dropped for that subscriber (and counted, and the stream told).
type hub struct {
	mu      sync.RWMutex
	subs    map[*subscriber]struct{}
	buffer  int
	closed  bool
	done    chan struct{} // closed by close: every stream ends
	dropped *vm.Counter
}

// subscriber is one live-feed stream.
type subscriber struct {
	ch      chan event
	mu      sync.Mutex
	missed  int // events dropped since the stream last said so
	dropped *vm.Counter
}

func newHub(buffer int, dropped *vm.Counter) *hub {
	return &hub{subs: map[*subscriber]struct{}{}, buffer: buffer, done: make(chan struct{}), dropped: dropped}
}

// subscribe adds a subscriber; ok is false once the hub is closed.
func (h *hub) subscribe() (sub *subscriber, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, false
	}
	sub = &subscriber{ch: make(chan event, h.buffer), dropped: h.dropped}
	h.subs[sub] = struct{}{}
	return sub, true
}

func (h *hub) unsubscribe(sub *subscriber) {
	h.mu.Lock()
	delete(h.subs, sub)
	h.mu.Unlock()
}

// publish offers ev to every subscriber without waiting for any.
func (h *hub) publish(ev event) {
	h.mu.RLock()
	for sub := range h.subs {
		select {
		case sub.ch <- ev:
		default:
			sub.mu.Lock()
			sub.missed++
			sub.mu.Unlock()
			sub.dropped.Inc()
		}
	}
	h.mu.RUnlock()
}

// subscribers is the number of open streams.
func (h *hub) subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.subs)
}

// close ends every stream and refuses new ones.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// takeMissed returns and resets the number of events dropped.
func (sub *subscriber) takeMissed() int {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	n := sub.missed
	sub.missed = 0
	return n
}

// errShuttingDown answers a live-feed request after Close.
var errShuttingDown error = &postbox.Error{Code: postbox.EUNAVAILABLE, Message: "the admin server is shutting down"}

// openStream answers 200 with an event stream and returns the function
// that writes to it and flushes, false once the client is gone. A stream
// lives longer than the listener's write timeout: each write gets its own
// deadline instead.
func (s *Server) openStream(w http.ResponseWriter) (write func(format string, args ...any) bool) {
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return func(format string, args ...any) bool {
		_ = rc.SetWriteDeadline(time.Now().Add(s.keepAlive + 10*time.Second))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
}

// handleEvents streams the live feed as Server-Sent Events: one "request"
// event per answered request, one "attempt" event per finished attempt, a
// "dropped" event when this stream fell behind and missed some, and a
// keep-alive comment when idle. It ends when the client goes away or the
// server closes.
func (s *Server) handleEvents() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sub, ok := s.hub.subscribe()
		if !ok {
			w.Header().Set("Retry-After", "5")
			writeError(w, errShuttingDown)
			return
		}
		defer s.hub.unsubscribe(sub)
		write := s.openStream(w)
		if !write("retry: 2000\n: connected\n\n") {
			return
		}
		keepAlive := time.NewTicker(s.keepAlive)
		defer keepAlive.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case <-s.hub.done:
				return
			case <-keepAlive.C:
				if n := sub.takeMissed(); n > 0 && !write("event: dropped\ndata: {\"missed\":%d}\n\n", n) {
					return
				}
				if !write(": keep-alive\n\n") {
					return
				}
			case ev := <-sub.ch:
				if n := sub.takeMissed(); n > 0 && !write("event: dropped\ndata: {\"missed\":%d}\n\n", n) {
					return
				}
				data, err := json.Marshal(ev.data)
				if err != nil {
					s.logger.Error("encode live event", "err", err)
					continue
				}
				if !write("event: %s\ndata: %s\n\n", ev.kind, data) {
					return
				}
			}
		}
	})
}
