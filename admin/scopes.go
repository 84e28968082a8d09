package admin

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/postbox/postbox"
)

// Scopes of an admin token (Token.Scopes).
const (
	ScopeAdmin = "admin" // every route: the console, replay, resume, /metrics
	ScopeRead  = "read"  // every route that changes nothing (GET)
	ScopeRelay = "relay" // the relay feed and the deliveries it lists
)

// Token is a named admin token besides Options.Token (which is named
// "admin" and has the admin scope).
type Token struct {
	Name   string
	Secret string
	// Scopes are ScopeAdmin, ScopeRead or ScopeRelay; none means
	// ScopeAdmin.
	Scopes []string
	// Hooks, when not empty, are the only hooks whose deliveries the token
	// may list, read and follow; it then reaches no route that is not
	// about deliveries. Ignored with ScopeAdmin.
	Hooks []string
}

// principal is who a request acts as, once its token (or session) passed.
type principal struct {
	name  string
	admin bool
	read  bool
	relay bool
	hooks []string // nil: every hook
}

// fullAccess is the principal of a listener without tokens, of the admin
// token and of a console session.
var fullAccess = &principal{name: "admin", admin: true, read: true, relay: true}

// credential is a Token ready for comparison.
type credential struct {
	secret []byte
	who    *principal
}

func credentialsOf(admin string, tokens []Token) []credential {
	var out []credential
	if admin != "" {
		out = append(out, credential{secret: []byte(admin), who: fullAccess})
	}
	for _, t := range tokens {
		p := &principal{name: t.Name}
		scopes := t.Scopes
		if len(scopes) == 0 {
			scopes = []string{ScopeAdmin}
		}
		for _, sc := range scopes {
			switch sc {
			case ScopeAdmin:
				p.admin, p.read, p.relay = true, true, true
			case ScopeRead:
				p.read = true
			case ScopeRelay:
				p.relay = true
			}
		}
		if !p.admin && len(t.Hooks) > 0 {
			p.hooks = slices.Clone(t.Hooks)
		}
		out = append(out, credential{secret: []byte(t.Secret), who: p})
	}
	return out
}

// match returns the principal whose secret is token, or nil. Every
// credential is compared, in constant time, whichever matches.
func match(creds []credential, token []byte) *principal {
	var found *principal
	for _, c := range creds {
		if equal(token, c.secret) {
			found = c.who
		}
	}
	return found
}

// bearerToken is the token of "Authorization: Bearer <token>", or nil.
func bearerToken(r *http.Request) []byte {
	a := r.Header.Get("Authorization")
	if len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		return []byte(strings.TrimSpace(a[7:]))
	}
	return nil
}

type principalKey struct{}

// principalOf is who r acts as; fullAccess when the listener has no token.
func principalOf(r *http.Request) *principal {
	if p, ok := r.Context().Value(principalKey{}).(*principal); ok {
		return p
	}
	return fullAccess
}

func withPrincipal(r *http.Request, p *principal) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), principalKey{}, p))
}

// deliveryRoutes are the routes a token limited to hooks may reach: each
// checks the hook of what it shows (seesHook).
var deliveryRoutes = map[string]bool{
	"GET /api/deliveries":      true,
	"GET /api/deliveries/{id}": true,
	"GET /api/relay":           true,
}

// permit says whether p may reach the route r matches: the admin scope
// reaches every route; the read scope every GET route; the relay scope
// the relay feed and the deliveries routes; a token limited to hooks only
// the deliveries routes and the feed.
func (s *Server) permit(p *principal, r *http.Request) error {
	if p.admin {
		return nil
	}
	_, pattern := s.mux.Handler(r)
	get := r.Method == http.MethodGet || r.Method == http.MethodHead
	switch {
	case !get:
		return postbox.Errorf(eForbidden, "token %q may not change anything: %s %s needs a token with the admin scope", p.name, r.Method, r.URL.Path)
	case deliveryRoutes[pattern] && (p.read || p.relay):
		return nil
	case p.hooks != nil:
		return postbox.Errorf(eForbidden, "token %q is limited to hooks %s: it reaches only /api/deliveries and /api/relay", p.name, strings.Join(p.hooks, ", "))
	case p.read:
		return nil
	}
	return postbox.Errorf(eForbidden, "token %q has the relay scope: it reaches only /api/deliveries and /api/relay", p.name)
}

// seesHook reports whether p may see deliveries of hook.
func (p *principal) seesHook(hook string) bool {
	return p.hooks == nil || slices.Contains(p.hooks, hook)
}

// limitFilter narrows f to the hooks p sees: a token limited to one hook
// lists that hook's deliveries; one limited to several names one of them.
func (p *principal) limitFilter(f *postbox.DeliveryFilter) error {
	switch {
	case p.hooks == nil || p.seesHook(f.Hook) && f.Hook != "":
		return nil
	case f.Hook == "" && len(p.hooks) == 1:
		f.Hook = p.hooks[0]
		return nil
	case f.Hook == "":
		return postbox.Errorf(postbox.EINVALID, "token %q sees hooks %s: name one as hook=", p.name, strings.Join(p.hooks, ", "))
	}
	return postbox.Errorf(eForbidden, "token %q does not see hook %q", p.name, f.Hook)
}
