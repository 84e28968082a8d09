package admin

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/postbox/postbox"
)

// Console sessions and sign-in limits.
const (
	// DefaultSessionTTL is how long a console sign-in lasts when
	// Options.SessionTTL is zero.
	DefaultSessionTTL = 12 * time.Hour
	// maxSessions bounds the sessions kept; signing in beyond it ends the
	// session closest to its expiry.
	maxSessions = 1000
	// loginFailures failed sign-ins from one address within loginWindow
	// make it wait until the window ends.
	loginFailures = 5
	loginWindow   = time.Minute
	// maxThrottled bounds the addresses tracked; when that many have
	// failed within the window, sign-ins from other addresses wait too.
	maxThrottled = 10000
)

// sessionCookie is the console's cookie: a random session id, not the
// token nor anything derived from it.
const sessionCookie = postbox.AdminSessionCookie

// sessions are the console's signed-in browsers: each sign-in gets a
// random id, kept in memory (as its hash) with its expiry, so that a
// session ends when it expires, when it signs out, or when the server
// restarts.
type sessions struct {
	mu   sync.Mutex
	ttl  time.Duration
	byID map[[32]byte]time.Time // sha256 of the id → expiry
}

func newSessions(ttl time.Duration) *sessions {
	if ttl <= 0 {
		ttl = DefaultSessionTTL
	}
	return &sessions{ttl: ttl, byID: make(map[[32]byte]time.Time)}
}

// start returns the id of a new session that expires ttl after now.
func (s *sessions) start(now time.Time) string {
	id := make([]byte, 32)
	rand.Read(id) // never fails (crypto/rand)
	value := base64.RawURLEncoding.EncodeToString(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.byID) >= maxSessions {
		s.sweep(now)
	}
	for len(s.byID) >= maxSessions {
		var soonest [32]byte
		var at time.Time
		for k, exp := range s.byID {
			if at.IsZero() || exp.Before(at) {
				soonest, at = k, exp
			}
		}
		delete(s.byID, soonest)
	}
	s.byID[sha256.Sum256([]byte(value))] = now.Add(s.ttl)
	return value
}

// valid reports whether id names a session that has not expired at now.
// Ids are looked up by their hash, so that lookup time says nothing about
// a live id.
func (s *sessions) valid(id string, now time.Time) bool {
	k := sha256.Sum256([]byte(id))
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.byID[k]
	if ok && !now.Before(exp) {
		delete(s.byID, k)
		return false
	}
	return ok
}

// end forgets the session id (signing out).
func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byID, sha256.Sum256([]byte(id)))
}

func (s *sessions) sweep(now time.Time) {
	for k, exp := range s.byID {
		if !now.Before(exp) {
			delete(s.byID, k)
		}
	}
}

// throttle counts failed sign-ins per client address (an IPv6 client per
// /64, which one client usually holds whole) in fixed windows.
type throttle struct {
	mu     sync.Mutex
	byAddr map[netip.Prefix]*window
}

type window struct {
	start    time.Time
	attempts int
}

func newThrottle() *throttle { return &throttle{byAddr: make(map[netip.Prefix]*window)} }

// clientPrefix is the key of remoteAddr (an ip:port) in a throttle.
func clientPrefix(remoteAddr string) netip.Prefix {
	ap, err := netip.ParseAddrPort(remoteAddr)
	if err != nil {
		return netip.Prefix{} // not an IP peer: all such share one key
	}
	a := ap.Addr().Unmap()
	bits := 32
	if a.Is6() {
		bits = 64
	}
	p, _ := a.Prefix(bits)
	return p
}

// attempt counts a sign-in of the client at p, and returns how long the
// client must wait instead when it has used up its attempts. Every
// attempt counts until succeed forgets them, so that attempts sent at
// once cannot slip past the limit.
func (t *throttle) attempt(p netip.Prefix, now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	w, ok := t.byAddr[p]
	if ok && now.Sub(w.start) >= loginWindow {
		delete(t.byAddr, p)
		ok = false
	}
	if !ok && len(t.byAddr) >= maxThrottled {
		t.sweep(now)
		if len(t.byAddr) >= maxThrottled {
			return loginWindow
		}
	}
	switch {
	case !ok:
		t.byAddr[p] = &window{start: now, attempts: 1}
	case w.attempts >= loginFailures:
		return w.start.Add(loginWindow).Sub(now)
	default:
		w.attempts++
	}
	return 0
}

// succeed forgets the failures of the client at p.
func (t *throttle) succeed(p netip.Prefix) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byAddr, p)
}

func (t *throttle) sweep(now time.Time) {
	for p, w := range t.byAddr {
		if now.Sub(w.start) >= loginWindow {
			delete(t.byAddr, p)
		}
	}
}

// handleLogin takes the token from the console's form and, when it
// matches, starts a session: its cookie (HttpOnly, SameSite=Strict,
// Max-Age the session's lifetime) and a redirect to the console. A client
// that failed loginFailures times within loginWindow gets 429 with
// Retry-After, whatever it sends, until the window ends.
func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	if len(s.creds) == 0 {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	client := clientPrefix(r.RemoteAddr)
	if d := s.throttle.attempt(client, s.now()); d > 0 {
		secs := int((d + time.Second - 1) / time.Second)
		s.logger.Warn("admin login throttled", "remote", r.RemoteAddr, "retry_after_s", secs)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		serveLogin(w, http.StatusTooManyRequests, "Too many failed sign-ins: try again in "+strconv.Itoa(secs)+" s.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if p := match(s.creds, []byte(r.PostFormValue("token"))); p == nil || !p.admin {
		s.logger.Warn("admin login refused", "remote", r.RemoteAddr)
		serveLogin(w, http.StatusUnauthorized, "That token is not the admin token.")
		return
	}
	s.throttle.succeed(client)
	id := s.sessions.start(s.now())
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", MaxAge: int(s.sessions.ttl / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	s.logger.Info("admin login", "remote", r.RemoteAddr)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// handleLogout ends the request's session, if any, clears its cookie and
// goes back to the console (which asks to sign in again).
func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
