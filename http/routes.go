package http

import (
	"net/http"

	"github.com/postbox/postbox"
)

// routes is one immutable routing table: every hook's path and the fixed
// endpoints.
type routes struct {
	mux *http.ServeMux
}

func newRoutes(s *Server, hooks []*postbox.Hook) *routes {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", handleHealth())
	var paths []string
	byPath := map[string][]*postbox.Hook{}
	for _, h := range hooks {
		if byPath[h.Path] == nil {
			paths = append(paths, h.Path)
		}
		byPath[h.Path] = append(byPath[h.Path], h)
	}
	for _, p := range paths {
		mux.Handle(p, s.handlePath(byPath[p]))
	}
	return &routes{mux: mux}
}

func (rt *routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rc := rawConnFrom(r.Context()); rc != nil {
		defer rc.rearm()
		if err := checkHead(rc.take(), r.RequestURI); err != nil {
			w.Header().Set("Connection", "close")
			writeError(w, r, err)
			return
		}
	}
	if _, pattern := rt.mux.Handler(r); pattern == "" {
		// ServeMux answers a path that needs cleaning with a redirect;
		// a webhook sender would not follow it with its body, so refuse.
		writeError(w, r, postbox.Errorf(postbox.ENOTFOUND, "no hook at %s", r.URL.Path))
		return
	}
	// ServeHTTP, not the handler found above: it sets the path wildcards.
	rt.mux.ServeHTTP(w, r)
}

func handleHealth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
}
