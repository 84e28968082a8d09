package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDestinationsCommandShowsAnOpenBreakerAndResumesIt drives `postbox
// destinations` against a running server whose one destination fails: the
// list shows its breaker open, --resume closes it, and the waiting delivery
// then goes through.
func TestDestinationsCommandShowsAnOpenBreakerAndResumesIt(t *testing.T) {
	var healthy atomic.Bool
	var calls atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		if !healthy.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(target.Close)
	dest := "http://" + target.Listener.Addr().String()
	token := "a-token-of-enough-length"
	s := startServer(t, fmt.Sprintf(`
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, token: %s}
data: @DIR@/data
destinations:
  "*": {breaker: {failures: 2, cooldown: 1h}}
hooks:
  - id: fwd
    retry: {attempts: 20, backoff: 10ms, max_backoff: 20ms}
    actions:
      - http: {url: "%s/in"}
`, token, target.URL))
	ready := s.waitLog("the admin listener", func(r record) bool { return r["msg"] == "admin ready" })
	admin := "http://" + fmt.Sprint(ready["addr"])
	res, err := s.client.Post(s.url+"/hooks/fwd", "application/json", strings.NewReader(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST: %d", res.StatusCode)
	}
	s.waitLog("the breaker to open", func(r record) bool {
		return strings.HasPrefix(fmt.Sprint(r["msg"]), "destination failing") && r["destination"] == dest
	})
	out := s.cli("destinations", "--config", "postbox.yaml", "--admin", admin)
	if out.code != 0 || !strings.Contains(out.stdout, dest) || !strings.Contains(out.stdout, " open ") {
		t.Fatalf("postbox destinations: exit %d\n%s%s\nwant %s open", out.code, out.stdout, out.stderr, dest)
	}
	if n := calls.Load(); n != 2 {
		t.Errorf("%d calls reached the failing destination, want 2 (the breaker opens after 2)", n)
	}
	healthy.Store(true)
	out = s.cli("destinations", "--config", "postbox.yaml", "--admin", admin, "--resume", dest)
	if out.code != 0 || !strings.Contains(out.stdout, "resumed "+dest) {
		t.Fatalf("--resume: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	eventually(t, 10*time.Second, func() string {
		if got := s.deliveries(); len(got) != 1 || got[0].State != "done" {
			return fmt.Sprintf("deliveries %+v, want one done", got)
		}
		return ""
	})
	out = s.cli("destinations", "--config", "postbox.yaml", "--admin", admin, "--json")
	if out.code != 0 || !strings.Contains(out.stdout, `"state": "closed"`) {
		t.Errorf("after the resume: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
	out = s.cli("destinations", "--config", "postbox.yaml", "--admin", admin, "--resume", "http://nowhere:1")
	if out.code == 0 || !strings.Contains(out.stderr, "no destination") {
		t.Errorf("resuming an unknown destination: exit %d\n%s%s", out.code, out.stdout, out.stderr)
	}
}
