// Package http is postbox's ingress: a hardened net/http server that routes a
// request to its hook, enforces limits, authenticates, parses, stores the
// delivery durably and only then answers.
package http

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postbox/postbox"
)

// Limits are the server-wide bounds on a request.
type Limits struct {
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxInflight caps hook requests in progress; 0 means no cap.
	MaxInflight int
}

// Server serves hooks. Create it with NewServer; swap hooks with SetHooks
// (a reload) while it serves.
type Server struct {
	store  Store
	logger *slog.Logger
	limits Limits
	// notify wakes the queue after a delivery with actions is stored.
	notify   func()
	runner   Runner
	observer postbox.Observer
	trusted  []netip.Prefix
	ids      postbox.IDGen
	now      func() time.Time
	rootOK   bool
	// lenientBody, webhookAnswers, requestIDLimit: see Options.
	lenientBody, webhookAnswers bool
	requestIDLimit              int

	routes   atomic.Pointer[routes]
	inflight atomic.Int64
	// stop ends when shutdown's grace is over: sync hooks' actions still
	// running then are stopped and their jobs handed back.
	stop     context.Context
	stopSync context.CancelFunc
	syncs    sync.WaitGroup
	srv      *http.Server
}

// Options are the dependencies of a Server.
type Options struct {
	Store  Store
	Logger *slog.Logger
	Limits Limits
	Hooks  []*postbox.Hook
	Notify func()           // may be nil
	Now    func() time.Time // nil means time.Now
	// Runner runs sync hooks' actions; required when a hook is sync.
	Runner Runner
	// Observer is told of every request; nil means none.
	Observer postbox.Observer
	// TrustedProxies are the peers whose X-Forwarded-For and Forwarded
	// headers are believed; none by default.
	TrustedProxies []netip.Prefix
	// RootOK makes / answer 200 "OK" (any method), as adnanh/webhook does, for
	// the health checks of its users (postbox webhook); false: 404.
	RootOK bool
	// LenientBody takes a body that does not parse as its Content-Type
	// (an empty one to a JSON hook) with an empty payload instead of
	// answering 400, as adnanh/webhook does (postbox webhook).
	LenientBody bool
	// WebhookAnswers answers an unknown hook 404 "Hook not found.", a
	// wrong method 405 without a body and a signature that does not match
	// 500 "Error occurred while evaluating hook rules.", as adnanh/webhook
	// does (postbox webhook); false: postbox's JSON errors.
	WebhookAnswers bool
	// RequestIDLimit, when not 0, logs a request's X-Request-Id header as
	// its request_id, cut to that many bytes (-1: whole), as webhook's
	// -x-request-id does; every request has a delivery id besides.
	RequestIDLimit int
}

// Store is what the ingress needs of a store: to append a delivery
// durably, and to read one back (a sync hook's answer, a duplicate's).
// A store that is a postbox.HealthReporter is asked by /healthz.
type Store interface {
	postbox.Appender
	Delivery(ctx context.Context, id string) (*postbox.Delivery, error)
}

// Runner runs a sync hook's actions before the answer (queue.Queue).
type Runner interface {
	// RunSync runs d's actions within ctx; when stop ends first (the
	// server's grace is over) it hands the remaining work back to the
	// queue instead.
	RunSync(ctx, stop context.Context, h *postbox.Hook, d *postbox.Delivery) []*postbox.Result
}

// NewServer returns a server for o.Hooks.
func NewServer(o Options) *Server {
	s := &Server{store: o.Store, logger: o.Logger, limits: o.Limits, notify: o.Notify, now: o.Now,
		runner: o.Runner, observer: o.Observer, trusted: o.TrustedProxies, rootOK: o.RootOK,
		lenientBody: o.LenientBody, webhookAnswers: o.WebhookAnswers, requestIDLimit: o.RequestIDLimit}
	if s.observer == nil {
		s.observer = postbox.NopObserver{}
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.notify == nil {
		s.notify = func() {}
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.stop, s.stopSync = context.WithCancel(context.Background())
	s.SetHooks(o.Hooks)
	s.srv = &http.Server{
		Handler:           s,
		MaxHeaderBytes:    hardHeaderLimit(o.Limits.MaxHeaderBytes),
		ReadHeaderTimeout: o.Limits.ReadHeaderTimeout,
		ReadTimeout:       o.Limits.ReadTimeout,
		WriteTimeout:      o.Limits.WriteTimeout,
		IdleTimeout:       o.Limits.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug),
		// "OPTIONS *" comes to the handler, which closes the connection
		// after it when it had Transfer-Encoding (routes.ServeHTTP).
		DisableGeneralOptionsHandler: true,
	}
	return s
}

// SetHooks replaces the served hooks; requests already routed finish with
// the hooks they started with.
func (s *Server) SetHooks(hooks []*postbox.Hook) {
	s.routes.Store(newRoutes(s, hooks))
}

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting and waits for requests in flight until ctx ends.
// Sync hooks still running when ctx ends have their actions stopped (the
// jobs go back to the queue, to run after a restart) and answer 503.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	s.stopSync()
	done := make(chan struct{})
	go func() { s.syncs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
	}
	return err
}

// ServeHTTP routes r to its hook.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.routes.Load().ServeHTTP(w, r)
}
