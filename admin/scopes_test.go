package admin_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/postbox/postbox/admin"
)

const (
	relayToken = "relay-token-0123456789"
	readToken  = "read-token-0123456789"
	opsToken   = "ops-token-0123456789"
)

func withTokens(o *admin.Options) {
	o.Tokens = []admin.Token{
		{Name: "laptop", Secret: relayToken, Scopes: []string{admin.ScopeRelay}, Hooks: []string{"gh"}},
		{Name: "viewer", Secret: readToken, Scopes: []string{admin.ScopeRead}},
		{Name: "ops", Secret: opsToken}, // no scopes: admin
	}
}

// as sends a request with token and returns the status and body.
func (f *fixture) as(token, method, path, body string) (int, string) {
	f.t.Helper()
	old := f.token
	f.token = token
	defer func() { f.token = old }()
	status, b := f.do(method, path, body)
	return status, string(b)
}

// TestLimitedTokensChangeNothing sends every request that could change
// something with a relay and a read-only token: each is refused with 403
// and the store is left as it was.
func TestLimitedTokensChangeNothing(t *testing.T) {
	f := newFixture(t, withTokens)
	d := f.add("gh", 1, f.now, `{"a":1}`)
	f.finish(d.ID, "failed", "no")
	paths := []string{"/api/deliveries/" + d.ID + "/replay", "/api/replay", "/api/destinations/resume",
		"/api/deliveries", "/api/deliveries/" + d.ID, "/api/relay", "/api/hooks", "/api/store", "/metrics", "/"}
	bodies := map[string]string{"/api/replay": `{"ids":["` + d.ID + `"]}`, "/api/destinations/resume": `{"name":"*"}`}
	for _, tok := range []string{relayToken, readToken} {
		for _, method := range []string{"POST", "PUT", "PATCH", "DELETE"} {
			for _, p := range paths {
				body := bodies[p]
				if body == "" {
					body = "{}"
				}
				if status, out := f.as(tok, method, p, body); status != http.StatusForbidden {
					t.Errorf("%s %s with token %s: %d %s, want 403", method, p, tok[:5], status, out)
				}
			}
		}
	}
	if got, err := f.db.Delivery(t.Context(), d.ID); err != nil || got.Series != 0 || got.State != "failed" {
		t.Errorf("after the refused requests the delivery is %+v (%v); want failed, series 0", got, err)
	}
	// The same replay with an admin-scoped named token works: the 403s
	// above came from the scope, not from the request.
	if status, out := f.as(opsToken, "POST", "/api/deliveries/"+d.ID+"/replay", ""); status != http.StatusAccepted {
		t.Errorf("replay with the ops token: %d %s, want 202", status, out)
	}
}

// TestTokenScopesAndHooks checks what each scope reaches and that a token
// limited to hooks sees no other hook's deliveries.
func TestTokenScopesAndHooks(t *testing.T) {
	f := newFixture(t, withTokens)
	gh := f.add("gh", 0, f.now, `{"gh":1}`)
	lamp := f.add("lamp", 0, f.now, `{"lamp":1}`)
	tests := []struct {
		name, token, path string
		want              int
		contains          string
	}{
		{"the relay token lists its hook's deliveries", relayToken, "/api/deliveries", 200, gh.ID},
		{"the relay token reads its hook's delivery", relayToken, "/api/deliveries/" + gh.ID, 200, gh.ID},
		{"the relay token does not see another hook's delivery", relayToken, "/api/deliveries/" + lamp.ID, 404, "no delivery"},
		{"the relay token cannot list another hook", relayToken, "/api/deliveries?hook=lamp", 403, "does not see hook"},
		{"the relay token cannot follow another hook", relayToken, "/api/relay?hook=lamp", 403, "does not see hook"},
		{"the relay token reaches no other route", relayToken, "/api/hooks", 403, "limited to hooks gh"},
		{"the relay token reads no metrics", relayToken, "/metrics", 403, "limited to hooks"},
		{"the relay token gets no console", relayToken, "/", 403, "limited to hooks"},
		{"the read token lists every hook", readToken, "/api/deliveries", 200, lamp.ID},
		{"the read token reads the hooks", readToken, "/api/hooks", 200, "lamp"},
		{"the read token reads metrics", readToken, "/metrics", 200, ""},
		{"the read token reads the store", readToken, "/api/store", 200, ""},
		{"a wrong token is refused", "not-a-token-0123456789", "/api/deliveries", 401, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.as(tt.token, "GET", tt.path, "")
			if status != tt.want || !strings.Contains(body, tt.contains) {
				t.Errorf("GET %s: %d %.300s; want %d containing %q", tt.path, status, body, tt.want, tt.contains)
			}
			if tt.token == relayToken && status == 200 && strings.Contains(body, lamp.ID) {
				t.Errorf("GET %s with the relay token shows the lamp delivery", tt.path)
			}
		})
	}
}

// TestOnlyAdminTokensSignIn: a relay or read token cannot open a console
// session (whose cookie has full access); an admin-scoped one can.
func TestOnlyAdminTokensSignIn(t *testing.T) {
	f := newFixture(t, withTokens)
	client := f.ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	for tok, want := range map[string]int{relayToken: 401, readToken: 401, opsToken: 303, testToken: 303} {
		res, err := client.PostForm(f.ts.URL+"/login", url.Values{"token": {tok}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("sign in with %s...: %d, want %d", tok[:5], res.StatusCode, want)
		}
	}
}
