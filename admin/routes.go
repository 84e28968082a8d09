package admin

import (
	"net/http"

	"github.com/postbox/postbox"
)

// routes lists every route of the admin listener. Every one of them needs
// the token when one is set (see ServeHTTP); POST /login takes it in a
// form and POST /logout ends the console's session, both in session.go.
func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("GET /api/deliveries", s.handleDeliveries())
	mux.Handle("GET /api/deliveries/{id}", s.handleDelivery())
	mux.Handle("POST /api/deliveries/{id}/replay", s.handleReplay())
	mux.Handle("POST /api/replay", s.handleReplayMany())
	mux.Handle("GET /api/hooks", s.handleHooks())
	mux.Handle("GET /api/stats/minutes", s.handleMinutes())
	mux.Handle("GET /api/rejections", s.handleRejections())
	mux.Handle("GET /api/events", s.handleEvents())
	mux.Handle("GET /api/relay", s.handleRelay())
	mux.Handle("GET /api/destinations", s.handleDestinations())
	mux.Handle("POST /api/destinations/resume", s.handleResume())
	mux.Handle("GET /api/backlog", s.handleBacklog())
	mux.Handle("GET /api/store", s.handleStore())
	mux.Handle("GET /api/instances", s.handleInstances())
	mux.Handle("/api/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, postbox.Errorf(postbox.ENOTFOUND, "no API route %s %s; see docs/api.md", r.Method, r.URL.Path))
	}))
	mux.Handle("GET /metrics", s.metrics)
	mux.Handle("/", s.handleConsole())
	return mux
}
