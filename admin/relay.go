package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/postbox/postbox"
)

// relayPage is how many deliveries the relay feed reads at a time;
// relayPoll is how often a stream looks for deliveries that no accepted
// request announced (another instance's, or a PostgreSQL commit whose
// place in the order settled later).
const (
	relayPage = 100
	relayPoll = time.Second
)

// listenerName is what a listener may call itself (name=).
var listenerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.@:-]{0,63}$`)

// waker wakes the relay streams when a delivery is accepted. The zero
// value is ready to use.
type waker struct {
	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed by the next wake.
func (w *waker) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

func (w *waker) wake() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// RelayEvent is the data of one "delivery" event of the relay feed (GET
// /api/relay): the request as the public listener accepted it, body
// included (base64 in JSON), so that a listener can send it again byte for
// byte. A listener must treat every field as hostile.
type RelayEvent struct {
	ID     string `json:"id"`
	Hook   string `json:"hook"`
	Method string `json:"method"`
	Path   string `json:"path"`
	// Suffix is the part of Path after the static start of the hook's
	// path (/gh/{repo} and /gh/postbox: /postbox); empty when the path is
	// the hook's own. postbox listen appends it to its --forward URL.
	Suffix   string      `json:"suffix"`
	Query    string      `json:"query,omitempty"`
	Header   http.Header `json:"header"`
	Body     []byte      `json:"body"`
	Received time.Time   `json:"received"`
}

// suffixOf is the part of path after the static start of the hook path
// pattern (up to its first wildcard), as a path of its own, or "".
func suffixOf(pattern, path string) string {
	if i := strings.IndexByte(pattern, '{'); i >= 0 {
		pattern = pattern[:i]
	}
	rest, ok := strings.CutPrefix(path, pattern)
	if !ok || rest == "" || rest == "/" {
		return ""
	}
	return "/" + strings.TrimPrefix(rest, "/")
}

// relayRequest is what a relay stream follows, read from its request.
type relayRequest struct {
	hooks    []string
	listener string
	cursor   string
	since    time.Time
}

func (s *Server) relayRequestOf(r *http.Request) (relayRequest, error) {
	p := principalOf(r)
	q := r.URL.Query()
	rr := relayRequest{hooks: q["hook"], listener: q.Get("name"), cursor: r.Header.Get("Last-Event-ID")}
	for _, h := range rr.hooks {
		if !p.seesHook(h) {
			return rr, postbox.Errorf(eForbidden, "token %q does not see hook %q", p.name, h)
		}
	}
	if len(rr.hooks) == 0 {
		rr.hooks = p.hooks
	}
	if rr.listener == "" {
		rr.listener = p.name
	} else if !listenerName.MatchString(rr.listener) {
		return rr, postbox.Errorf(postbox.EINVALID, "name=%.70q: use up to 64 letters, digits and . _ @ : -", rr.listener)
	}
	if rr.cursor == "" {
		rr.cursor = q.Get("after")
	}
	if v := q.Get("since"); v != "" && rr.cursor == "" { // a cursor says where to start
		if d, err := time.ParseDuration(v); err == nil && d > 0 {
			rr.since = s.now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			rr.since = t
		} else {
			return rr, postbox.Errorf(postbox.EINVALID, "since=%.40q: use a duration such as 1h or an RFC 3339 time", v)
		}
	}
	return rr, nil
}

// handleRelay streams accepted deliveries as Server-Sent Events, in the
// store's relay order (postbox.Relayer), for postbox listen: a "ready"
// event, then one "delivery" event per delivery whose SSE id is its
// cursor. A client that reconnects with Last-Event-ID (or after=) gets
// every delivery after that one, exactly once; without one it starts at
// the newest (or, with since=, at the first received since then). Each
// delivery sent is recorded as relayed to the listener (name=, or the
// token's name).
func (s *Server) handleRelay() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rl, ok := s.store.(postbox.Relayer)
		if !ok {
			writeError(w, postbox.Errorf(postbox.EUNAVAILABLE, "this store has no relay order"))
			return
		}
		rr, err := s.relayRequestOf(r)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		ctx := r.Context()
		if rr.cursor == "" && rr.since.IsZero() {
			if rr.cursor, err = rl.RelayHead(ctx); err != nil {
				s.fail(w, r, err)
				return
			}
		}
		wake := s.relayWake.wait()
		page, err := rl.RelayAfter(ctx, postbox.RelayFilter{After: rr.cursor, Hooks: rr.hooks, Since: rr.since, Limit: relayPage})
		if err != nil {
			s.fail(w, r, err) // a cursor from elsewhere: 400
			return
		}
		write := s.openStream(w)
		ready, _ := json.Marshal(map[string]string{"listener": rr.listener, "cursor": rr.cursor})
		if !write("retry: 2000\nevent: ready\ndata: %s\n\n", ready) {
			return
		}
		s.logger.Info("relay listener connected", "name", rr.listener, "hooks", rr.hooks, "remote", r.RemoteAddr)
		defer s.logger.Info("relay listener gone", "name", rr.listener, "remote", r.RemoteAddr)
		keepAlive := time.NewTicker(s.keepAlive)
		defer keepAlive.Stop()
		poll := time.NewTicker(relayPoll)
		defer poll.Stop()
		for {
			if !s.sendRelayed(ctx, rl, rr.listener, page, write) {
				return
			}
			if len(page) > 0 {
				rr.cursor = page[len(page)-1].Cursor
			}
			if len(page) < relayPage {
				select {
				case <-ctx.Done():
					return
				case <-s.hub.done:
					return
				case <-keepAlive.C:
					if !write(": keep-alive\n\n") {
						return
					}
				case <-wake:
				case <-poll.C:
				}
			}
			wake = s.relayWake.wait()
			page, err = rl.RelayAfter(ctx, postbox.RelayFilter{After: rr.cursor, Hooks: rr.hooks, Since: rr.since, Limit: relayPage})
			if err != nil {
				s.logger.Warn("relay feed", "name", rr.listener, "err", err)
				return // the client reconnects from its last id
			}
		}
	})
}

// sendRelayed writes page as delivery events and records them as relayed
// to listener. It returns false when the client is gone.
func (s *Server) sendRelayed(ctx context.Context, rl postbox.Relayer, listener string,
	page []postbox.Relayed, write func(string, ...any) bool) bool {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, p := range page {
		d := p.Delivery
		ev := RelayEvent{ID: d.ID, Hook: d.HookID, Method: d.Method, Path: d.Path, Header: d.Header, Body: d.Body,
			Received: d.Received}
		if h := s.hook(d.HookID); h != nil {
			ev.Suffix = suffixOf(h.Path, d.Path)
		}
		if len(d.Query) > 0 {
			ev.Query = d.Query.Encode()
		}
		data, err := json.Marshal(ev)
		if err != nil {
			s.logger.Error("encode relay event", "id", d.ID, "err", err)
			continue
		}
		if !write("id: %s\nevent: delivery\ndata: %s\n\n", p.Cursor, data) {
			return false
		}
		// Concurrent records share one commit of the store's writer.
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			if err := rl.RecordRelay(context.WithoutCancel(ctx), id, listener, s.now()); err != nil {
				s.logger.Warn("record relay", "id", id, "name", listener, "err", err)
			}
		}(d.ID)
	}
	return true
}
