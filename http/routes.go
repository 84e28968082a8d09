package http

import (
	"io"
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
	handlers map[*registered]bool // what was registered, to tell a match from a redirect
	observer postbox.Observer
	trusted  []netip.Prefix
	// webhookAnswers: see Options.WebhookAnswers.
	webhookAnswers bool
	// maxHeader is Limits.MaxHeaderBytes: see headerBlockSize.
	maxHeader int
}

func newRoutes(s *Server, hooks []*postbox.Hook) *routes {
	mux := http.NewServeMux()
	health := &registered{handleHealth(s.store)}
	handlers := map[*registered]bool{health: true}
	mux.Handle("GET /healthz", health)
	if s.rootOK {
		root := &registered{handleRootOK()}
		handlers[root] = true
		mux.Handle("/{$}", root) // any method, as in webhook
	}
	var paths []string
	byPath := map[string][]*postbox.Hook{}
	for _, h := range hooks {
		if byPath[h.Path] == nil {
			paths = append(paths, h.Path)
		}
		byPath[h.Path] = append(byPath[h.Path], h)
	}
	for _, p := range paths {
		h := &registered{s.handlePath(byPath[p])}
		mux.Handle(p, h)
		handlers[h] = true
	}
	return &routes{mux: mux, handlers: handlers, observer: s.observer, trusted: s.trusted, webhookAnswers: s.webhookAnswers,
		maxHeader: s.limits.MaxHeaderBytes}
}

func (rt *routes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	closeIfFramingSuspect(w, r)
	if r.Method == http.MethodOptions && r.RequestURI == "*" {
		answerOptions(w, r)
		return
	}
	// ServeMux answers a path that needs cleaning, or a subtree's path
	// without its slash, with a redirect; a webhook sender would not follow
	// it with its body, so refuse it.
	if n := headerBlockSize(r); rt.maxHeader > 0 && n > rt.maxHeader {
		rt.refuse(w, r, postbox.Errorf(EHEADERS, "request line and headers are %d bytes, over the limit of %d (max_header_bytes)", n, rt.maxHeader))
		return
	}
	if h, _ := rt.mux.Handler(r); !rt.isRegistered(h) || !isClean(r.URL.EscapedPath()) {
		rt.refuse(w, r, postbox.Errorf(postbox.ENOTFOUND, "no hook at %s", r.URL.Path))
		return
	}
	// ServeHTTP, not the handler found above: it sets the path wildcards.
	rt.mux.ServeHTTP(w, r)
}

// refuse answers a request that reached no hook, and records it with the
// other rejections.
func (rt *routes) refuse(w http.ResponseWriter, r *http.Request, err error) {
	rt.observer.Request(postbox.RequestEvent{Time: time.Now(), Method: r.Method, Path: r.URL.Path,
		Remote: clientAddr(r, rt.trusted), Status: ErrorStatus(err), Reason: err.Error()})
	answerError(w, r, err, rt.webhookAnswers)
}

// headerBlockSize is the size of r's request line and header fields as
// sent over HTTP/1.1 ("Name: value\r\n" each, the Host line and the blank
// line included), the measure max_header_bytes limits.
//
// net/http enforces its MaxHeaderBytes while reading, before any handler,
// and answers a text/plain 431 that no log or rejection ring sees. So the
// server gives net/http twice the limit (hardHeaderLimit) and this check
// holds the configured one, answering as every other refusal does. Only a
// header block over twice the limit gets net/http's bare answer.
func headerBlockSize(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	n += len("Host: ") + len(r.Host) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// hardHeaderLimit is the MaxHeaderBytes net/http gets for a configured
// limit: see headerBlockSize.
func hardHeaderLimit(limit int) int {
	if limit <= 0 {
		return limit
	}
	return 2 * limit
}

// closeIfFramingSuspect makes net/http close the connection after the
// answer to a request whose framing another server on the path may have
// read differently, so that no request smuggled behind it is served.
//
// net/http frames a request with Transfer-Encoding by its chunked body and
// drops any Content-Length (RFC 9112 §6.1 allows that), but keeps the
// connection open, where RFC 9112 §6.1 requires it closed: a proxy in front
// that framed the same bytes by Content-Length would send the rest of the
// chunked body as the next request. An HTTP/1.0 request may carry
// Transfer-Encoding too, which RFC 9112 §6.1 says to treat as faulty framing;
// net/http ignores it and removes the header before the handler runs, so
// every HTTP/1.0 connection is closed after its answer (HTTP/1.0 keep-alive
// is rare, and webhook senders speak HTTP/1.1 or 2).
//
// Setting the header is what makes net/http close: it sees "Connection:
// close" in the answer. HTTP/2 has neither Transfer-Encoding nor this
// framing, and is left alone.
func closeIfFramingSuspect(w http.ResponseWriter, r *http.Request) {
	if len(r.TransferEncoding) > 0 || r.ProtoMajor == 1 && r.ProtoMinor == 0 {
		w.Header().Set("Connection", "close")
	}
}

// answerOptions answers "OPTIONS *" as net/http's own handler does (200,
// no body; a body over 4 KiB closes the connection). It is served here, not
// by net/http, so that such a request with Transfer-Encoding closes the
// connection like any other (see closeIfFramingSuspect).
func answerOptions(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 4<<10))
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
}

// handleHealth answers /healthz: 200 "ok", or 503 with the reason when the
// store refuses writes for good, so that a supervisor or load balancer
// notices what only a restart mends.
func handleHealth(store Store) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if hr, ok := store.(postbox.HealthReporter); ok {
			if err := hr.Healthy(); err != nil {
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte("unhealthy: " + err.Error() + "\n"))
				return
			}
		}
		w.Write([]byte("ok\n"))
	})
}

// handleRootOK answers / with 200 "OK", whatever the method, as
// adnanh/webhook does.
func handleRootOK() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("OK"))
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

// registered wraps a handler given to the mux, so that it can be told
// (by pointer) from the redirect and not-found handlers the mux makes.
type registered struct{ http.Handler }

func (rt *routes) isRegistered(h http.Handler) bool {
	reg, ok := h.(*registered)
	return ok && rt.handlers[reg]
}
