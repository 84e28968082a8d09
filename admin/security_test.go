package admin_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/admin"
)

// clock is a time source that tests move forward while the server reads
// it from its handlers.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}

func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

// send sends method path with body and the given headers (no token unless
// a header sets one) and returns the answer's status, headers and body.
func (f *fixture) send(method, path, body string, header map[string]string) (int, http.Header, string) {
	f.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, r)
	if err != nil {
		f.t.Fatal(err)
	}
	for k, v := range header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	client := *f.ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := client.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

// replayable stores a delivery whose actions finished, so that a replay of
// it succeeds, and returns the JSON body that replays it.
func replayable(f *fixture) (id, body string) {
	d := f.add("lamp", 1, time.Now().Add(-time.Minute), `{"state":"on"}`)
	f.finish(d.ID, postbox.OutcomeOK, "")
	return d.ID, fmt.Sprintf(`{"ids":[%q]}`, d.ID)
}

func TestChangesNeedAJSONBody(t *testing.T) {
	for _, token := range []string{"", testToken} {
		f := newFixture(t, func(o *admin.Options) { o.Token = token })
		id, body := replayable(f)
		auth := map[string]string{}
		if token != "" {
			auth["Authorization"] = "Bearer " + token
		}
		tests := []struct {
			name, ctype string
			want        int
		}{
			{"text/plain, as a cross-origin page may send without asking, is refused", "text/plain", http.StatusUnsupportedMediaType},
			{"text/plain with a charset is refused", "text/plain; charset=utf-8", http.StatusUnsupportedMediaType},
			{"a form is refused", "application/x-www-form-urlencoded", http.StatusUnsupportedMediaType},
			{"multipart is refused", "multipart/form-data; boundary=x", http.StatusUnsupportedMediaType},
			{"no Content-Type is refused", "", http.StatusUnsupportedMediaType},
			{"a look-alike type is refused", "application/jsonx", http.StatusUnsupportedMediaType},
			{"JSON with a charset is accepted", "application/json; charset=utf-8", http.StatusOK},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("token %v: %s", token != "", tt.name), func(t *testing.T) {
				h := map[string]string{"Content-Type": tt.ctype}
				for k, v := range auth {
					h[k] = v
				}
				status, _, answer := f.send("POST", "/api/replay", body, h)
				if status != tt.want {
					t.Fatalf("%d %s, want %d", status, answer, tt.want)
				}
				if status == http.StatusUnsupportedMediaType && !strings.Contains(answer, `"code":"unsupported"`) {
					t.Errorf("answer %s, want the JSON error unsupported", answer)
				}
				if status == http.StatusOK {
					// Let the next case replay it again.
					f.finish(id, postbox.OutcomeOK, "")
				}
			})
		}
		if n := f.notified.Load(); n != 1 {
			t.Errorf("token %v: the queue was woken %d times, want once (the JSON request)", token != "", n)
		}
	}
}

func TestChangesFromAnotherOriginAreRefused(t *testing.T) {
	f := newFixture(t, func(o *admin.Options) { o.Token = "" })
	self := f.ts.URL // http://127.0.0.1:port, the request's own origin
	u, _ := url.Parse(self)
	otherPort := strconv.Itoa(mustAtoi(t, u.Port()) + 1)
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"an Origin of another site is refused", map[string]string{"Origin": "http://evil.example"}, http.StatusForbidden},
		{"an Origin of another port of the same host is refused", map[string]string{"Origin": "http://127.0.0.1:" + otherPort}, http.StatusForbidden},
		{"an opaque Origin is refused", map[string]string{"Origin": "null"}, http.StatusForbidden},
		{"Sec-Fetch-Site cross-site is refused", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"Sec-Fetch-Site same-site (another port) is refused", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": self}, http.StatusForbidden},
		{"the console's own Origin is accepted", map[string]string{"Origin": self}, http.StatusOK},
		{"Sec-Fetch-Site same-origin is accepted", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": self}, http.StatusOK},
		{"a client that is not a browser (neither header) is accepted", map[string]string{}, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, body := replayable(f)
			tt.header["Content-Type"] = "application/json"
			status, _, answer := f.send("POST", "/api/replay", body, tt.header)
			if status != tt.want {
				t.Fatalf("POST /api/replay: %d %s, want %d", status, answer, tt.want)
			}
			if tt.want == http.StatusForbidden && !strings.Contains(answer, `"code":"forbidden"`) {
				t.Errorf("answer %s, want the JSON error forbidden", answer)
			}
			// The body-less replay of one delivery is guarded the same way;
			// past the guard it is a conflict, the first replay being queued.
			want := map[int]int{http.StatusOK: http.StatusConflict, http.StatusForbidden: http.StatusForbidden}[tt.want]
			if status, _, answer := f.send("POST", "/api/deliveries/"+id+"/replay", "", tt.header); status != want {
				t.Errorf("POST /api/deliveries/{id}/replay: %d %s, want %d", status, answer, want)
			}
		})
	}
	// Reading is not guarded: another origin's page cannot read the answer.
	if status, _, _ := f.send("GET", "/api/hooks", "", map[string]string{"Origin": "http://evil.example",
		"Sec-Fetch-Site": "cross-site"}); status != http.StatusOK {
		t.Errorf("a cross-site GET: %d, want 200", status)
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSignInAndOutFromAnotherOriginAreRefused(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/login", "/logout"} {
		status, h, answer := f.send("POST", path, url.Values{"token": {testToken}}.Encode(), map[string]string{
			"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
		if status != http.StatusForbidden || len(h.Values("Set-Cookie")) != 0 {
			t.Errorf("POST %s from another origin: %d %v %s, want 403 without a cookie", path, status, h.Values("Set-Cookie"), answer)
		}
	}
}

func TestOnlyThisListenersHostIsServed(t *testing.T) {
	f := newFixture(t, func(o *admin.Options) {
		o.Token = ""
		o.Addr = "Admin.Lan:8081"
		o.Hosts = []string{"postbox.example.com", "OPS.example.net:9000"}
	})
	tests := []struct {
		host string
		want int
	}{
		{"rebind.attacker.example:8081", http.StatusMisdirectedRequest},
		{"rebind.attacker.example", http.StatusMisdirectedRequest},
		{"localhost.attacker.example", http.StatusMisdirectedRequest},
		{"example.com", http.StatusMisdirectedRequest},
		{"127.0.0.1.nip.io:8081", http.StatusMisdirectedRequest},
		{"localhost:8081", http.StatusOK},
		{"LOCALHOST", http.StatusOK},
		{"127.0.0.1:8081", http.StatusOK},
		{"127.9.9.9:1", http.StatusOK},
		{"[::1]:8081", http.StatusOK},
		{"[::1]", http.StatusOK},
		{"192.0.2.10:8081", http.StatusOK}, // an address: no other site's page can send it
		{"admin.lan:8081", http.StatusOK},  // the listen address's host
		{"postbox.example.com", http.StatusOK},
		{"postbox.example.com:443", http.StatusOK},
		{"ops.example.net:8081", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			for _, rt := range []struct{ method, path, body string }{
				{"GET", "/api/deliveries", ""}, {"GET", "/", ""}, {"GET", "/metrics", ""},
				{"POST", "/api/replay", `{"ids":["01NOSUCHDELIVERY"]}`},
			} {
				status, _, answer := f.send(rt.method, rt.path, rt.body, map[string]string{"Host": tt.host, "Content-Type": "application/json"})
				if status != tt.want {
					t.Errorf("%s %s: %d %s, want %d", rt.method, rt.path, status, answer, tt.want)
				}
				if tt.want == http.StatusMisdirectedRequest && (!strings.Contains(answer, `"code":"misdirected"`) || !strings.Contains(answer, "admin: {hosts:")) {
					t.Errorf("%s %s: answer %s, want the JSON error misdirected naming admin.hosts", rt.method, rt.path, answer)
				}
			}
		})
	}
}

func TestReplayBodyIsStrictJSON(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, body string
		want       int
	}{
		{"a second value after the first is refused", `{"ids":["01A"]} {"ids":["01B"]}`, http.StatusBadRequest},
		{"bytes after the value are refused", `{"ids":["01A"]}garbage`, http.StatusBadRequest},
		{"a closing brace too many is refused", `{"ids":["01A"]}}`, http.StatusBadRequest},
		{"an unknown field is refused", `{"idz":["01A"]}`, http.StatusBadRequest},
		{"an unknown field in the filter is refused", `{"filter":{"hook":"lamp","stat":"dead"}}`, http.StatusBadRequest},
		{"a body over 1 MiB is refused", `{"ids":["` + strings.Repeat("a", 1<<20) + `"]}`, http.StatusRequestEntityTooLarge},
		{"white space after the value is fine", "{\"ids\":[\"01A\"]}\n \t\n", http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.do("POST", "/api/replay", tt.body)
			if status != tt.want {
				t.Errorf("%d %.200s, want %d", status, body, tt.want)
			}
		})
	}
}

// signIn posts token to /login and returns the answer's status and the
// session cookie, if one was set.
func signIn(f *fixture, token string) (int, http.Header, *http.Cookie) {
	f.t.Helper()
	status, h, _ := f.send("POST", "/login", url.Values{"token": {token}}.Encode(),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	res := http.Response{Header: h}
	for _, c := range res.Cookies() {
		if c.Name == "postbox_admin" {
			return status, h, c
		}
	}
	return status, h, nil
}

// withCookie GETs /api/hooks with the session cookie c and returns the
// status.
func withCookie(f *fixture, c *http.Cookie) int {
	f.t.Helper()
	status, _, _ := f.send("GET", "/api/hooks", "", map[string]string{"Cookie": c.Name + "=" + c.Value})
	return status
}

func TestSessionExpires(t *testing.T) {
	c := newClock()
	f := newFixture(t, func(o *admin.Options) { o.Now = c.now; o.SessionTTL = 12 * time.Hour })
	status, _, cookie := signIn(f, testToken)
	if status != http.StatusSeeOther || cookie == nil {
		t.Fatalf("sign in: %d, cookie %v", status, cookie)
	}
	if cookie.MaxAge != 12*60*60 || !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode {
		t.Errorf("cookie %+v, want Max-Age 43200, HttpOnly, SameSite=Strict", cookie)
	}
	c.advance(12*time.Hour - time.Second)
	if status := withCookie(f, cookie); status != http.StatusOK {
		t.Fatalf("a second before expiry: %d, want 200", status)
	}
	c.advance(time.Second)
	if status := withCookie(f, cookie); status != http.StatusUnauthorized {
		t.Errorf("at expiry (the browser may keep the cookie): %d, want 401", status)
	}
}

func TestSignOutEndsTheSession(t *testing.T) {
	f := newFixture(t)
	_, _, cookie := signIn(f, testToken)
	_, _, other := signIn(f, testToken)
	if cookie == nil || other == nil || cookie.Value == other.Value {
		t.Fatalf("two sign-ins: cookies %v and %v, want two different sessions", cookie, other)
	}
	if status := withCookie(f, cookie); status != http.StatusOK {
		t.Fatalf("signed in: %d", status)
	}
	status, h, _ := f.send("POST", "/logout", "", map[string]string{"Cookie": cookie.Name + "=" + cookie.Value,
		"Origin": f.ts.URL, "Sec-Fetch-Site": "same-origin"})
	cleared := (&http.Response{Header: h}).Cookies()
	if status != http.StatusSeeOther || h.Get("Location") != "/" || len(cleared) != 1 || cleared[0].MaxAge >= 0 {
		t.Fatalf("sign out: %d %v, want 303 to / clearing the cookie", status, h)
	}
	// A copy of the cookie kept after signing out no longer works.
	if status := withCookie(f, cookie); status != http.StatusUnauthorized {
		t.Errorf("the signed-out cookie: %d, want 401", status)
	}
	if status := withCookie(f, other); status != http.StatusOK {
		t.Errorf("another session after this one signed out: %d, want 200", status)
	}
}

func TestSignOutButtonOnlyWithAToken(t *testing.T) {
	for _, token := range []string{"", testToken} {
		f := newFixture(t, func(o *admin.Options) { o.Token = token })
		h := map[string]string{}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		_, _, page := f.send("GET", "/", "", h)
		shown := strings.Contains(page, `<form id="logout" method="post" action="/logout">`)
		if shown != (token != "") {
			t.Errorf("token %v: sign-out button shown %v", token != "", shown)
		}
	}
}

func TestSignInIsThrottled(t *testing.T) {
	c := newClock()
	f := newFixture(t, func(o *admin.Options) { o.Now = c.now })
	for i := range 5 {
		if status, _, cookie := signIn(f, "guess-"+strconv.Itoa(i)); status != http.StatusUnauthorized || cookie != nil {
			t.Fatalf("wrong token %d: %d, want 401", i+1, status)
		}
	}
	c.advance(20 * time.Second)
	status, h, cookie := signIn(f, testToken)
	if status != http.StatusTooManyRequests || cookie != nil {
		t.Fatalf("the right token after 5 failures in a minute: %d, want 429 without a session", status)
	}
	if ra := h.Get("Retry-After"); ra != "40" {
		t.Errorf("Retry-After %q, want 40 (the rest of the minute)", ra)
	}
	// The bearer token still works: only sign-ins are throttled.
	if status, body := f.do("GET", "/api/hooks", ""); status != http.StatusOK {
		t.Errorf("the API with the token while sign-in is throttled: %d %s", status, body)
	}
	c.advance(40 * time.Second)
	if status, _, cookie := signIn(f, testToken); status != http.StatusSeeOther || cookie == nil {
		t.Fatalf("the right token once the minute is over: %d, want 303 with a session", status)
	}
	// Success forgets the failures: five more wrong tokens are answered 401.
	for i := range 5 {
		if status, _, _ := signIn(f, "again-"+strconv.Itoa(i)); status != http.StatusUnauthorized {
			t.Errorf("wrong token %d after a success: %d, want 401", i+1, status)
		}
	}
}

func TestTheBearerTokenNeedsNoListedHost(t *testing.T) {
	f := newFixture(t)
	_, _, cookie := signIn(f, testToken)
	if cookie == nil {
		t.Fatal("no session")
	}
	const host = "postbox-in-a-container:8081" // as a scraper may name it
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"the token is served under any host", map[string]string{"Authorization": "Bearer " + testToken}, http.StatusOK},
		{"a wrong token is refused for the host first", map[string]string{"Authorization": "Bearer " + testToken + "x"}, http.StatusMisdirectedRequest},
		{"a session cookie is refused for the host", map[string]string{"Cookie": cookie.Name + "=" + cookie.Value}, http.StatusMisdirectedRequest},
		{"no credentials are refused for the host", map[string]string{}, http.StatusMisdirectedRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.header["Host"] = host
			if status, _, answer := f.send("GET", "/metrics", "", tt.header); status != tt.want {
				t.Errorf("%d %.200s, want %d", status, answer, tt.want)
			}
		})
	}
}
