package http_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/config"
	phttp "github.com/postbox/postbox/http"
	"github.com/postbox/postbox/sqlite"
)

// failingStore is a real SQLite store whose Append fails while fail is
// set: a disk that filled up, a database that went away.
type failingStore struct {
	*sqlite.DB
	fail    atomic.Bool
	appends atomic.Int64
}

func (s *failingStore) Append(ctx context.Context, d *postbox.Delivery) error {
	s.appends.Add(1)
	if s.fail.Load() {
		return errors.New("disk I/O error")
	}
	return s.DB.Append(ctx, d)
}

// TestNoAnswerIs2xxWhenTheStoreFails: the answer comes after Append, and a
// failed Append is a 503 with Retry-After, never a 2xx, for a hook with
// actions and without.
func TestNoAnswerIs2xxWhenTheStoreFails(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte(`hooks:
  - id: plain
  - id: lamp
    actions:
      - exec: {command: "true"}
`), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st := &failingStore{DB: db}
	var notified atomic.Int64
	srv := phttp.NewServer(phttp.Options{Store: st, Hooks: cfg.Hooks, Notify: func() { notified.Add(1) }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	url := "http://" + ln.Addr().String()

	st.fail.Store(true)
	for _, hook := range []string{"plain", "lamp"} {
		res, body := post(t, url+"/hooks/"+hook, `{"n":1}`, map[string]string{"Content-Type": "application/json"})
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" || res.Header.Get(phttp.DeliveryHeader) != "" {
			t.Errorf("%s with a failing store: %d %q (Retry-After %q), want 503 with Retry-After and no delivery id",
				hook, res.StatusCode, body, res.Header.Get("Retry-After"))
		}
		if strings.Contains(body, "disk I/O") {
			t.Errorf("%s: the store's error reached the client: %q", hook, body)
		}
	}
	if notified.Load() != 0 {
		t.Errorf("the queue was woken %d times for deliveries that were not stored", notified.Load())
	}
	st.fail.Store(false)
	res, _ := post(t, url+"/hooks/lamp", `{"n":2}`, map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != http.StatusOK || res.Header.Get(phttp.DeliveryHeader) == "" {
		t.Errorf("once the store works again: %d, want 200 with a delivery id", res.StatusCode)
	}
	if st.appends.Load() != 3 {
		t.Errorf("%d appends, want 3", st.appends.Load())
	}
}

// TestAHooksOwnMaxBodyHoldsOnASharedPath: two hooks share a path and the
// path reads bodies up to the larger limit, but the hook chosen keeps its
// own.
func TestAHooksOwnMaxBodyHoldsOnASharedPath(t *testing.T) {
	url, _ := serve(t, `
  - id: small
    path: /shared
    max_body: 16
    when: payload.kind == "small"
  - id: big
    path: /shared
    max_body: 1KiB
`)
	big := `{"kind":"small","pad":"` + strings.Repeat("x", 64) + `"}`
	if res, body := post(t, url+"/shared", big, map[string]string{"Content-Type": "application/json"}); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("a 90-byte body to the hook of 16: %d %q, want 413", res.StatusCode, body)
	}
	other := `{"kind":"big","pad":"` + strings.Repeat("x", 64) + `"}`
	if res, body := post(t, url+"/shared", other, map[string]string{"Content-Type": "application/json"}); res.StatusCode != http.StatusOK {
		t.Errorf("the same size to the hook of 1 KiB: %d %q, want 200", res.StatusCode, body)
	}
}
