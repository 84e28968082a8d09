package http

import (
	"net/http"
	"strings"
)

// redacted replaces a secret's value in what is stored.
const redacted = "[redacted]"

// redact replaces the values of keys in m and returns m. It changes m in
// place: it runs once authentication is over, on the request's own header
// and query, which nothing reads for a secret afterwards.
func redact[M ~map[string][]string](m M, keys []string) M {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			m[k] = []string{redacted}
		}
	}
	return m
}

// redactCookie replaces the value of the cookie called name in h's Cookie
// fields with [redacted], in place, and keeps every other cookie as it was
// sent. Cookie names are case-sensitive (RFC 6265 §5.4).
func redactCookie(h http.Header, name string) {
	for i, v := range h["Cookie"] {
		pairs := strings.Split(v, ";")
		changed := false
		for j, pair := range pairs {
			k, _, ok := strings.Cut(pair, "=")
			if ok && strings.TrimSpace(k) == name {
				pairs[j] = k + "=" + redacted
				changed = true
			}
		}
		if changed {
			h["Cookie"][i] = strings.Join(pairs, ";")
		}
	}
}
