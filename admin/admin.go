// Package admin is postbox's admin listener: a JSON API over the store
// (deliveries, replay, hooks, rejected requests), a live feed of events as
// Server-Sent Events, the embedded web console and Prometheus metrics.
//
// A Server is both the http.Handler of the admin listener and the
// postbox.Observer that the ingress and the queue report to: every event
// updates the metrics, the ring of recent rejections, the per-minute
// counters and the live feed, without blocking the caller.
package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postbox/postbox"
)

// Defaults for the zero values of Options.
const (
	DefaultRingSize   = 500
	DefaultSampleSize = 4 << 10
	DefaultKeepAlive  = 15 * time.Second
	DefaultBuffer     = 256
)

// Store is what the admin needs of a store: to read deliveries and
// statistics, and to replay. It also uses a store's optional
// postbox.Backlogger, prune.Sizer and prune.Statser.
type Store interface {
	postbox.Reader
	Replay(ctx context.Context, id string) error
}

// Options are the dependencies of a Server. Store is required; every other
// field has a usable zero value.
type Options struct {
	Store Store
	// Hooks are the configured hooks, listed by /api/hooks.
	Hooks []*postbox.Hook
	// Token, when not empty, is required on every route as
	// "Authorization: Bearer <token>" (or the console's session cookie,
	// obtained by posting the token to /login).
	Token string
	// Tokens are further named tokens, each with its scopes and perhaps
	// limited to some hooks (see scopes.go). With Tokens and no Token,
	// every route needs one of them all the same.
	Tokens []Token
	// SessionTTL is how long a console sign-in lasts; 0 means 12 hours.
	SessionTTL time.Duration
	// Addr is the admin listener's address. When its host is a name, the
	// listener answers to that name too (see Hosts).
	Addr string
	// Hosts are the host names (a port, if given, is ignored) that a
	// request's Host header may name besides localhost and IP addresses;
	// any other is refused with 421, against DNS rebinding. Nil means
	// none.
	Hosts []string
	// Notify wakes the queue after a replay; nil means nothing to wake.
	Notify func()
	// Logger receives the server's own log lines; nil discards them.
	Logger *slog.Logger
	// HookBase is the base URL of the public hook listener (e.g.
	// http://127.0.0.1:8080), used for hook URLs and copy-as-curl. Empty
	// means URLs are shown as paths.
	HookBase string
	// RingSize is how many rejected requests are kept; 0 means 500.
	RingSize int
	// SampleSize caps the body sample kept per rejection; 0 means 4 KiB.
	SampleSize int
	// KeepAlive is the interval of SSE keep-alive comments; 0 means 15s.
	KeepAlive time.Duration
	// Buffer is the number of events buffered per live-feed subscriber
	// before events are dropped for it; 0 means 256.
	Buffer int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Queue shows the destinations and resumes them; nil means the API
	// lists none.
	Queue Queue
	// Instance is this process's id in the store's instances
	// (postbox.Registry); "" when it is not registered.
	Instance string
}

// Server serves the admin API, the live feed, the console and /metrics,
// and observes requests and attempts. Create it with New; Close ends the
// live-feed streams (call it when the listener shuts down).
type Server struct {
	store    Store
	creds    []credential // the tokens; none: every request has full access
	sessions *sessions
	throttle *throttle // failed sign-ins
	hosts    hostSet   // names the Host header may carry (see checkHost)
	notify   func()
	logger   *slog.Logger
	hookBase string
	now      func() time.Time

	queue     Queue
	instance  string
	retention retentionState // see store.go
	hooks     atomic.Pointer[hookSet]
	metrics   *metrics
	stats     *statsCache
	ring      *ring
	recent    *recent
	hub       *hub
	assets    map[string]asset
	mux       *http.ServeMux

	keepAlive time.Duration
	closeOnce sync.Once
	relayWake waker // see relay.go
}

var _ postbox.Observer = (*Server)(nil)

// commitObservable is implemented by stores that report their commits
// (sqlite.DB).
type commitObservable interface {
	SetCommitObserver(fn func(d time.Duration, n int))
}

// New returns a Server over o.Store. When the store reports its commits
// (SetCommitObserver), New subscribes to them for the commit metrics.
func New(o Options) *Server {
	s := &Server{store: o.Store, notify: o.Notify, logger: o.Logger, hookBase: strings.TrimSuffix(o.HookBase, "/"),
		now: o.Now, keepAlive: o.KeepAlive, sessions: newSessions(o.SessionTTL), throttle: newThrottle(),
		hosts: newHostSet(o.Addr, o.Hosts), queue: o.Queue, instance: o.Instance}
	if s.notify == nil {
		s.notify = func() {}
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.keepAlive <= 0 {
		s.keepAlive = DefaultKeepAlive
	}
	s.creds = credentialsOf(o.Token, o.Tokens)
	ringSize, sampleSize, buffer := o.RingSize, o.SampleSize, o.Buffer
	if ringSize <= 0 {
		ringSize = DefaultRingSize
	}
	if sampleSize <= 0 {
		sampleSize = DefaultSampleSize
	}
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	s.SetHooks(o.Hooks)
	s.stats = &statsCache{store: s.store, now: s.now}
	s.metrics = newMetrics(s.stats)
	s.ring = newRing(ringSize, sampleSize)
	s.recent = newRecent()
	s.hub = newHub(buffer, s.metrics.sseDropped)
	s.metrics.subscribersGauge(s.hub)
	s.metrics.scrapers = append(s.metrics.scrapers, s.queueScraper(), s.instanceScraper())
	s.assets = loadAssets(len(s.creds) > 0)
	if c, ok := s.store.(commitObservable); ok {
		c.SetCommitObserver(s.metrics.observeCommit)
	}
	s.mux = s.routes()
	return s
}

// SetHooks replaces the configured hooks that /api/hooks lists (after a
// reload).
func (s *Server) SetHooks(hooks []*postbox.Hook) {
	set := &hookSet{list: hooks, byID: make(map[string]*postbox.Hook, len(hooks))}
	for _, h := range hooks {
		set.byID[h.ID] = h
	}
	s.hooks.Store(set)
}

// hookSet is the configured hooks, in order and by id.
type hookSet struct {
	list []*postbox.Hook
	byID map[string]*postbox.Hook
}

// Close ends every live-feed stream and refuses new ones. It is safe to
// call more than once; the API, console and metrics keep working.
func (s *Server) Close() {
	s.closeOnce.Do(s.hub.close)
}

// ServeHTTP serves r once it passed, in order: the Host check (the bearer
// token exempts from it), the cross-origin check, the token (or session)
// check and, for a request with a body that can change something, the
// JSON check (see guard.go).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	if err := s.checkHost(r); err != nil && !s.bearer(r) {
		s.refuse(w, r, err)
		return
	}
	if err := checkOrigin(r); err != nil {
		s.refuse(w, r, err)
		return
	}
	if r.Method == http.MethodPost {
		switch r.URL.Path {
		case "/login": // a form; the origin check is its guard
			s.handleLogin(w, r)
			return
		case "/logout":
			s.handleLogout(w, r)
			return
		}
	}
	p := s.authorize(r)
	if p == nil {
		s.unauthorized(w, r)
		return
	}
	if err := s.permit(p, r); err != nil {
		s.refuse(w, r, err)
		return
	}
	r = withPrincipal(r, p)
	if err := checkJSONBody(r); err != nil {
		writeError(w, err)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// refuse answers a request that the Host or cross-origin check stopped,
// and logs it: it is either a misconfiguration or an attack.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	s.logger.Warn("admin request refused", "method", r.Method, "path", r.URL.Path, "host", r.Host,
		"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "remote", r.RemoteAddr,
		"reason", postbox.ErrorMessage(err))
	writeError(w, err)
}

// authorize returns who r acts as: the token it carries, or a live
// session's cookie (full access), or nil when neither. Token comparisons
// take the same time whatever the input.
func (s *Server) authorize(r *http.Request) *principal {
	if len(s.creds) == 0 {
		return fullAccess
	}
	if t := bearerToken(r); t != nil {
		return match(s.creds, t)
	}
	if c, err := r.Cookie(sessionCookie); err == nil && s.sessions.valid(c.Value, s.now()) {
		return fullAccess
	}
	return nil
}

// bearer reports whether r carries the token as "Authorization: Bearer
// <token>". Such a request is exempt from the Host check: a page that
// rebinds a name to this listener does not know the token, and a scraper
// may name the listener as it likes (a container's name, say).
func (s *Server) bearer(r *http.Request) bool {
	t := bearerToken(r)
	return t != nil && match(s.creds, t) != nil
}

// equal compares a and b in constant time whatever their lengths: both are
// hashed first so that the comparison does not leak the token's length.
func equal(a, b []byte) bool {
	ha, hb := sha256.Sum256(a), sha256.Sum256(b)
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// unauthorized answers 401: the console's login form for a browser asking
// for a page, a JSON error otherwise.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="postbox admin"`)
	if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/api/") && r.URL.Path != "/metrics" &&
		strings.Contains(r.Header.Get("Accept"), "text/html") {
		serveLogin(w, http.StatusUnauthorized, "")
		return
	}
	writeError(w, postbox.Errorf(postbox.EUNAUTH, "a bearer token is required: send Authorization: Bearer <admin token>"))
}
