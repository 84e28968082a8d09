package admin_test

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/admin"
)

// TestEventsOutliveTheReadTimeout: a listener's ReadTimeout bounds reading
// a request, not how long a live-feed stream stays open.
func TestEventsOutliveTheReadTimeout(t *testing.T) {
	f := newFixture(t, func(o *admin.Options) { o.KeepAlive = 25 * time.Millisecond })
	ts := httptest.NewUnstartedServer(f.srv)
	ts.Config.ReadTimeout = 100 * time.Millisecond
	ts.Config.WriteTimeout = 100 * time.Millisecond
	ts.Start()
	defer ts.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	res, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := bufio.NewScanner(res.Body)
	start := time.Now()
	keepAlives := 0
	// Read keep-alives until well past both timeouts; the stream must not
	// end meanwhile.
	for time.Since(start) < 500*time.Millisecond {
		if !lines.Scan() {
			t.Fatalf("the stream ended after %v and %d keep-alives: %v", time.Since(start), keepAlives, lines.Err())
		}
		if strings.HasPrefix(lines.Text(), ": keep-alive") {
			keepAlives++
		}
	}
}

// TestTokenNeverLogged: neither the admin token nor a wrong guess reaches
// the log, whatever the route.
func TestTokenNeverLogged(t *testing.T) {
	var logs strings.Builder
	f := newFixture(t, func(o *admin.Options) {
		o.Logger = slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	d := f.add("lamp", 1, time.Now().Add(-time.Minute), `{}`)
	f.finish(d.ID, postbox.OutcomeOK, "")
	const guess = "guessed-token-value"
	for _, auth := range []string{"Bearer " + guess, "Bearer " + testToken} {
		for _, rt := range []struct{ method, path string }{
			{"GET", "/api/deliveries"}, {"POST", "/api/deliveries/" + d.ID + "/replay"}, {"POST", "/api/replay"}, {"GET", "/metrics"},
		} {
			req, _ := http.NewRequest(rt.method, f.ts.URL+rt.path, strings.NewReader(`{"ids":["`+d.ID+`"]}`))
			req.Header.Set("Authorization", auth)
			req.Header.Set("Content-Type", "application/json")
			if res, err := f.ts.Client().Do(req); err == nil {
				res.Body.Close()
			}
		}
	}
	for _, token := range []string{guess, testToken} {
		if res, err := f.ts.Client().PostForm(f.ts.URL+"/login", url.Values{"token": {token}}); err == nil {
			res.Body.Close()
		}
	}
	if !strings.Contains(logs.String(), "replay") || !strings.Contains(logs.String(), "admin login refused") {
		t.Fatalf("the test logged nothing it should have:\n%s", logs.String())
	}
	for _, secret := range []string{guess, testToken} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log holds %q:\n%s", secret, logs.String())
		}
	}
}

// syncWriter serialises writes from the server's goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
