package admin

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/postbox/postbox"
)

// Error codes of the admin listener's own refusals, beside the root
// package's codes; statusOf maps them with the others.
const (
	eForbidden   = "forbidden"   // a cross-origin request that would change something (403)
	eMisdirected = "misdirected" // a Host the admin listener does not answer to (421)
)

// Before a request reaches the token check and the routes it passes two
// steps, in ServeHTTP:
//
//  1. checkHost: the Host header names this listener. A page that an
//     attacker's domain serves and then re-points at 127.0.0.1 (DNS
//     rebinding) is same-origin in the browser's eyes, but its requests
//     still carry the attacker's host name. A request with the bearer
//     token is exempt: such a page does not know the token.
//  2. checkOrigin: a request that can change something (any method but
//     GET, HEAD and OPTIONS) comes from the console's own origin, or from
//     a client that is not a browser (no Sec-Fetch-Site, no Origin).
//
// After the token check, checkJSONBody requires application/json on every
// such request that has a body, so that a cross-origin "simple" request
// (text/plain, forms) can never be read as an API call.

// hostSet is the host names the admin listener answers to, besides
// loopback names and IP addresses.
type hostSet map[string]bool

// newHostSet returns the names of hosts (each may carry a port, which is
// ignored) and of the host of addr when that is a name.
func newHostSet(addr string, hosts []string) hostSet {
	set := hostSet{}
	for _, h := range append([]string{addr}, hosts...) {
		name := hostname(h)
		if _, err := netip.ParseAddr(name); name != "" && err != nil {
			set[name] = true
		}
	}
	return set
}

// hostname is the lower-cased host of a Host header or host:port, without
// port or IPv6 brackets.
func hostname(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]"))
}

// checkHost accepts a Host that is an IP address (a browser sends one
// only when its page's own origin is that address, so no other site's
// page can), localhost, or one of s.hosts, with any port.
func (s *Server) checkHost(r *http.Request) error {
	name := hostname(r.Host)
	if _, err := netip.ParseAddr(name); err == nil || name == "localhost" || s.hosts[name] {
		return nil
	}
	if name == "" {
		return postbox.Errorf(eMisdirected, "the request has no Host header; the admin listener needs one")
	}
	return postbox.Errorf(eMisdirected, "Host %q is not a name of this admin listener: use 127.0.0.1 or localhost, "+
		"or list the name under admin: {hosts: [...]} in the configuration", r.Host)
}

// checkOrigin refuses a request that can change something when the
// browser says it comes from another origin (Sec-Fetch-Site cross-site or
// same-site, which includes another port of the same host; or an Origin
// whose host:port is not the request's Host). Requests with neither
// header are from curl and other non-browser clients, and pass.
func checkOrigin(r *http.Request) error {
	if err := (&http.CrossOriginProtection{}).Check(r); err != nil {
		origin := r.Header.Get("Origin")
		if origin == "" {
			origin = "Sec-Fetch-Site: " + r.Header.Get("Sec-Fetch-Site")
		}
		return postbox.Errorf(eForbidden, "%s %s from another origin (%s) is refused: the admin API accepts "+
			"changes only from its own console or from clients that are not browsers", r.Method, r.URL.Path, origin)
	}
	return nil
}

// checkJSONBody requires Content-Type: application/json on a request that
// can change something and has a body. A browser page of another origin
// can send text/plain or a form without asking first, but not JSON.
func checkJSONBody(r *http.Request) error {
	if safeMethod(r.Method) || r.Body == nil || r.Body == http.NoBody {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err == nil && mt == "application/json" {
		return nil
	}
	if ct == "" {
		ct = "none"
	}
	return postbox.Errorf(postbox.EUNSUPPORTED, "Content-Type %s: send the body as application/json", ct)
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// decodeJSON reads one JSON value from r's body (at most max bytes) into
// v, refusing unknown fields and anything after the value.
func decodeJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.Decode(new(json.RawMessage)) != io.EOF {
			return postbox.Errorf(postbox.EINVALID, "body: more data after the JSON value; send one JSON object")
		}
		return nil
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return postbox.Errorf(postbox.ETOOLARGE, "body: over %d bytes", max)
	}
	return postbox.Errorf(postbox.EINVALID, "body: %v", err)
}
