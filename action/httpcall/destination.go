package httpcall

import (
	"net"
	"net/url"
	"strings"

	"github.com/postbox/postbox"
)

var _ postbox.Destined = (*Action)(nil)

// Destination is the scheme, host and port that the URL's literal part
// names: every call of the action goes there, whatever the payload.
func (a *Action) Destination() postbox.Destination {
	return postbox.Destination{Name: destinationName(a.url.String()), IO: true}
}

// destinationName is scheme://host:port of the literal text before the
// first template action of rawURL, with the port made explicit.
func destinationName(rawURL string) string {
	lit, _, _ := strings.Cut(rawURL, "{{")
	scheme, rest, ok := strings.Cut(lit, "://")
	if !ok {
		return lit
	}
	scheme = strings.ToLower(scheme)
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority := rest[:end]
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		authority = authority[i+1:]
	}
	u := &url.URL{Host: authority}
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return scheme + "://" + net.JoinHostPort(strings.ToLower(host), port)
}
