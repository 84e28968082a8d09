package http

import (
	"net/http"
	"net/netip"
	"path"
	"strings"
	"time"

	"github.com/postbox/postbox"
)

// routes is one immutable routing table: every hook's path and the fixed
// endpoints.
type routes struct {
	mux      *http.ServeMux
	observer postbox.Observer
	trusted  []netip.Prefix
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
	return &routes{mux: mux, observer: s.observer, trusted: s.trusted}
}

func (rt *routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rc := rawConnFrom(r.Context()); rc != nil {
		if err := checkHead(rc.head(r.RequestURI)); err != nil {
			w.Header().Set("Connection", "close")
			writeError(w, r, err)
			return
		}
	}
	// ServeMux answers a path that needs cleaning with a redirect; a
	// webhook sender would not follow it with its body, so refuse it.
	if _, pattern := rt.mux.Handler(r); pattern == "" || !isClean(r.URL.EscapedPath()) {
		err := postbox.Errorf(postbox.ENOTFOUND, "no hook at %s", r.URL.Path)
		rt.observer.Request(postbox.RequestEvent{Time: time.Now(), Method: r.Method, Path: r.URL.Path,
			Remote: clientAddr(r, rt.trusted), Status: http.StatusNotFound, Reason: err.Error()})
		writeError(w, r, err)
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

// isClean reports whether p is already in the form ServeMux serves without
// a redirect (no //, ., .. segments).
func isClean(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c == p
}
