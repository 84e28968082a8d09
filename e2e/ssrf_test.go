package e2e

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/postbox/postbox"
)

// uriRecorder is a server of the test process that records the
// request-target of every request it receives.
type uriRecorder struct {
	*httptest.Server
	mu   sync.Mutex
	uris []string
}

func newURIRecorder(t *testing.T) *uriRecorder {
	t.Helper()
	r := &uriRecorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.uris = append(r.uris, req.RequestURI)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *uriRecorder) received() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.uris...)
}

func (r *uriRecorder) host() string { return strings.TrimPrefix(r.URL, "http://") }

// TestADeliveryCannotChooseTheHostOfACall replays security issue 14,
// finding 1, against the binary: a payload or a path wildcard that tried
// to send an http action's call (and its signature) to another server,
// such as the admin listener.
func TestADeliveryCannotChooseTheHostOfACall(t *testing.T) {
	t.Parallel()
	target, victim := newURIRecorder(t), newURIRecorder(t)

	t.Run("check refuses a url whose host a delivery could choose, naming file and line", func(t *testing.T) {
		dir := t.TempDir()
		config := strings.ReplaceAll(`hooks:
  - id: tenant
    path: /t/{tenant}
    actions:
      - http: {url: "http://{{ .Path.tenant }}.internal.example/notify"}
  - id: relay
    actions:
      - http: {url: "http://@TARGET@{{ .Payload.path }}"}
`, "@TARGET@", target.host())
		if err := os.WriteFile(filepath.Join(dir, "postbox.yaml"), []byte(config), 0o644); err != nil {
			t.Fatal(err)
		}
		res := runPostbox(t, dir, nil, "check", "--config", "postbox.yaml")
		for _, want := range []string{
			`postbox.yaml:5: hooks[0] "tenant": actions[0].http.url: "http://{{ .Path.tenant }}.internal.example/notify" takes its scheme, user, host or port from a template`,
			`postbox.yaml:8: hooks[1] "relay": actions[0].http.url: "http://` + target.host() + `{{ .Payload.path }}" takes its scheme, user, host or port from a template`,
		} {
			if res.code == 0 || !strings.Contains(res.stderr, want) {
				t.Errorf("exit %d, stderr:\n%s\nwant non-zero and a line with\n%s", res.code, res.stderr, want)
			}
		}
	})

	s := startServer(t, strings.NewReplacer("@TARGET@", target.host(), "@VICTIM@", victim.host()).Replace(`
listen: 127.0.0.1:0
admin: off
data: ./data
hooks:
  - id: tenant
    path: /t/{tenant}
    retry: {attempts: 5, backoff: 10ms}
    actions:
      - http:
          url: "http://@TARGET@/t/{{ .Path.tenant }}/notify"
          sign: {hmac: {header: X-Sig, secret: relay-secret}}
  - id: relay
    retry: {attempts: 5, backoff: 10ms}
    actions:
      - http:
          url: "http://@TARGET@/in/{{ .Payload.path }}"
          sign: {hmac: {header: X-Sig, secret: relay-secret}}
  - id: guarded
    retry: {attempts: 5, backoff: 10ms}
    actions:
      - http: {url: "http://@VICTIM@/api/replay", private: deny}
`))
	v := victim.host()
	tests := []struct {
		name, path, body, want string
	}{
		{"a path wildcard that ends the host with an encoded #", "/t/" + strings.ReplaceAll(v, ":", "%3A") + "%2523",
			`{}`, "/t/" + v + "%2523/notify"},
		{"a payload path that starts with userinfo", "/hooks/relay",
			`{"path":"@` + v + `/api/replay"}`, "/in/@" + v + "%2Fapi%2Freplay"},
		{"a payload path that is a scheme-relative URL", "/hooks/relay",
			`{"path":"//` + v + `/api/replay"}`, "/in/%2F%2F" + v + "%2Fapi%2Freplay"},
		{"a payload path with a backslash", "/hooks/relay",
			`{"path":"\\\\` + v + `"}`, "/in/%5C%5C" + v},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := s.do(t, request{method: "POST", path: tt.path, header: jsonType, body: tt.body})
			id := resp.Header.Get("Postbox-Delivery")
			if resp.StatusCode != 200 || id == "" {
				t.Fatalf("status %d, Postbox-Delivery %q", resp.StatusCode, id)
			}
			s.waitAttempt(id)
			if d := s.delivery(id); d.State != postbox.StateDone {
				t.Errorf("state %s, want done: the call went to the configured target", d.State)
			}
			if got := target.received(); len(got) == 0 || got[len(got)-1] != tt.want {
				t.Errorf("the target received %q, want last %q", got, tt.want)
			}
		})
	}

	t.Run("private: deny refuses a loopback target for good", func(t *testing.T) {
		resp, _ := s.do(t, request{method: "POST", path: "/hooks/guarded", header: jsonType, body: `{}`})
		id := resp.Header.Get("Postbox-Delivery")
		if resp.StatusCode != 200 || id == "" {
			t.Fatalf("status %d, Postbox-Delivery %q", resp.StatusCode, id)
		}
		s.waitAttempt(id)
		d := s.delivery(id)
		if d.State != postbox.StateFailed || len(d.Attempts) != 1 {
			t.Fatalf("state %s after %d attempts, want failed after 1 (not retried): %+v", d.State, len(d.Attempts), d.Attempts)
		}
		if a := d.Attempts[0]; a.Outcome != postbox.OutcomeError || !strings.Contains(a.Error, "private address") {
			t.Errorf("attempt outcome %s, error %q; want error naming the private address", a.Outcome, a.Error)
		}
	})

	if got := victim.received(); len(got) > 0 {
		t.Errorf("the victim received %q", got)
	}
}
