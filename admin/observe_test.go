package admin_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/admin"
)

func TestHooks(t *testing.T) {
	f := newFixture(t)
	now := f.now
	f.add("lamp", 1, now.Add(-time.Minute), `{}`)
	f.add("gh", 0, now.Add(-2*time.Minute), `{}`)
	f.add("gh", 0, now.Add(-time.Minute), `{}`)
	f.add("retired", 0, now.Add(-time.Hour), `{}`)
	f.srv.Request(postbox.RequestEvent{Time: now, Hook: "lamp", Status: 200, Delivery: "x"})
	f.srv.Request(postbox.RequestEvent{Time: now, Hook: "lamp", Status: 401, Reason: "authentication failed: no token"})
	f.srv.Attempt(postbox.AttemptEvent{Hook: "lamp", Attempt: postbox.Attempt{Kind: "exec", Outcome: postbox.OutcomeFailed}})

	var a struct {
		Hooks []struct {
			ID         string         `json:"id"`
			URL        string         `json:"url"`
			Methods    []string       `json:"methods"`
			Auth       []string       `json:"auth"`
			Actions    []string       `json:"actions"`
			Configured bool           `json:"configured"`
			States     map[string]int `json:"states"`
			Total      int            `json:"total"`
			Last       *time.Time     `json:"last"`
			Recent     map[string]int `json:"recent"`
		} `json:"hooks"`
	}
	f.getJSON("/api/hooks", &a)
	if len(a.Hooks) != 3 {
		t.Fatalf("%d hooks, want lamp, gh and retired: %+v", len(a.Hooks), a.Hooks)
	}
	lamp, gh, retired := a.Hooks[0], a.Hooks[1], a.Hooks[2]
	if lamp.ID != "lamp" || lamp.URL != "http://127.0.0.1:8080/post" || !slices.Equal(lamp.Auth, []string{"tokenCheck"}) ||
		!slices.Equal(lamp.Actions, []string{"exec"}) || !lamp.Configured || lamp.States["pending"] != 1 || lamp.Total != 1 {
		t.Errorf("lamp: %+v", lamp)
	}
	if lamp.Recent["accepted"] != 1 || lamp.Recent["rejected"] != 1 || lamp.Recent["failed"] != 1 || lamp.Recent["ok"] != 0 {
		t.Errorf("lamp recent: %v", lamp.Recent)
	}
	if gh.ID != "gh" || !slices.Equal(gh.Auth, []string{"github"}) || len(gh.Actions) != 0 || gh.States["done"] != 2 ||
		gh.Last == nil || !gh.Last.Equal(now.Add(-time.Minute)) {
		t.Errorf("gh: %+v", gh)
	}
	if retired.ID != "retired" || retired.Configured || retired.Total != 1 {
		t.Errorf("a hook only the store knows: %+v", retired)
	}

	a.Hooks = nil
	f.getJSON("/api/hooks?counts=false", &a)
	if len(a.Hooks) != 2 || a.Hooks[0].ID != "lamp" || a.Hooks[0].Total != 0 || len(a.Hooks[0].States) != 0 {
		t.Errorf("without counts: %+v", a.Hooks)
	}
}

func TestMinutes(t *testing.T) {
	f := newFixture(t) // now is 12:30:30
	f.add("lamp", 0, time.Date(2025, 6, 1, 12, 30, 1, 0, time.UTC), `{}`)
	f.add("lamp", 0, time.Date(2025, 6, 1, 12, 30, 2, 0, time.UTC), `{}`)
	f.add("lamp", 1, time.Date(2025, 6, 1, 12, 28, 59, 0, time.UTC), `{}`)
	f.add("gh", 0, time.Date(2025, 6, 1, 12, 29, 0, 0, time.UTC), `{}`)
	f.add("lamp", 0, time.Date(2025, 6, 1, 11, 0, 0, 0, time.UTC), `{}`) // out of the window

	var a struct {
		Start    time.Time `json:"start"`
		Complete bool      `json:"complete"`
		Buckets  []struct {
			T      time.Time      `json:"t"`
			Total  int            `json:"total"`
			States map[string]int `json:"states"`
		} `json:"buckets"`
	}
	f.getJSON("/api/stats/minutes?hook=lamp&minutes=5", &a)
	if !a.Start.Equal(time.Date(2025, 6, 1, 12, 26, 0, 0, time.UTC)) || len(a.Buckets) != 5 || !a.Complete {
		t.Fatalf("start %v, %d buckets, complete %v", a.Start, len(a.Buckets), a.Complete)
	}
	var totals []int
	for _, b := range a.Buckets {
		totals = append(totals, b.Total)
	}
	if !slices.Equal(totals, []int{0, 0, 1, 0, 2}) || a.Buckets[2].States["pending"] != 1 || a.Buckets[4].States["done"] != 2 {
		t.Errorf("per minute %v, buckets %+v", totals, a.Buckets)
	}
	f.getJSON("/api/stats/minutes?minutes=5", &a)
	if a.Buckets[3].Total != 1 {
		t.Errorf("every hook: %+v", a.Buckets)
	}
	for _, q := range []string{"minutes=0", "minutes=1441", "minutes=x"} {
		if status, _ := f.do("GET", "/api/stats/minutes?"+q, ""); status != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", q, status)
		}
	}
}

type rejectionsAnswer struct {
	Rejections []struct {
		Hook      string `json:"hook"`
		Status    int    `json:"status"`
		Class     string `json:"class"`
		Reason    string `json:"reason"`
		Bytes     int    `json:"bytes"`
		Sample    string `json:"sample"`
		Truncated bool   `json:"truncated"`
	} `json:"rejections"`
}

func TestRejectionsRingIsBounded(t *testing.T) {
	f := newFixture(t, func(o *admin.Options) { o.RingSize, o.SampleSize = 5, 8 })
	for i := range 12 {
		body := []byte(fmt.Sprintf("body-%02d-with-more-bytes", i))
		f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "lamp", Method: "POST", Path: "/post", Status: 401,
			Reason: fmt.Sprintf("signature mismatch %d", i), Sample: body, Bytes: len(body)})
		// The ring copies the sample: the caller's buffer may be reused.
		copy(body, "XXXXXXXX")
	}
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "lamp", Status: 200, Delivery: "01ACCEPTED"})
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "gh", Status: 413, Reason: "body too large", Bytes: 1 << 20})

	var a rejectionsAnswer
	f.getJSON("/api/rejections", &a)
	if len(a.Rejections) != 5 {
		t.Fatalf("%d rejections kept, want the ring's 5", len(a.Rejections))
	}
	first := a.Rejections[0]
	if first.Hook != "gh" || first.Class != "too_large" || first.Status != 413 {
		t.Errorf("newest: %+v", first)
	}
	second := a.Rejections[1]
	if second.Reason != "signature mismatch 11" || second.Class != "auth" || second.Sample != "body-11-" || !second.Truncated {
		t.Errorf("second: %+v", second)
	}
	f.getJSON("/api/rejections?hook=lamp&limit=2", &a)
	if len(a.Rejections) != 2 || a.Rejections[0].Reason != "signature mismatch 11" || a.Rejections[1].Reason != "signature mismatch 10" {
		t.Errorf("lamp's two newest: %+v", a.Rejections)
	}
}

func TestTokenIsRequired(t *testing.T) {
	f := newFixture(t)
	d := f.add("lamp", 1, time.Now(), `{}`)
	routes := []struct{ method, path string }{
		{"GET", "/"},
		{"GET", "/app.js"},
		{"GET", "/api/deliveries"},
		{"GET", "/api/deliveries/" + d.ID},
		{"POST", "/api/deliveries/" + d.ID + "/replay"},
		{"POST", "/api/replay"},
		{"GET", "/api/hooks"},
		{"GET", "/api/stats/minutes"},
		{"GET", "/api/rejections"},
		{"GET", "/api/events"},
		{"GET", "/metrics"},
	}
	for _, rt := range routes {
		for _, auth := range []string{"", "Bearer wrong-token", "Bearer " + testToken + "x", "Basic " + testToken, testToken} {
			t.Run(rt.method+" "+rt.path+" with "+strings.ReplaceAll(auth, testToken, "TOKEN"), func(t *testing.T) {
				req, _ := http.NewRequest(rt.method, f.ts.URL+rt.path, nil)
				if auth != "" {
					req.Header.Set("Authorization", auth)
				}
				res, err := f.ts.Client().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusUnauthorized {
					t.Errorf("%d, want 401", res.StatusCode)
				}
			})
		}
	}
	if n := f.notified.Load(); n != 0 {
		t.Errorf("an unauthorized replay notified the queue")
	}
	var list listAnswer
	f.getJSON("/api/deliveries", &list) // with the token
	if len(list.Deliveries) != 1 || list.Deliveries[0].State != "pending" {
		t.Errorf("with the token: %+v", list)
	}
	if status, _ := f.do("GET", "/metrics", ""); status != http.StatusOK {
		t.Errorf("/metrics with the token: %d", status)
	}
}

func TestNoTokenMeansOpen(t *testing.T) {
	f := newFixture(t, func(o *admin.Options) { o.Token = "" })
	if status, body := f.do("GET", "/api/hooks", ""); status != http.StatusOK {
		t.Errorf("%d %s", status, body)
	}
}

func TestConsoleLogin(t *testing.T) {
	f := newFixture(t)
	client := f.ts.Client()
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	req, _ := http.NewRequest("GET", f.ts.URL+"/", nil)
	req.Header.Set("Accept", "text/html")
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("a browser without a session gets %d %s, want the 401 login page", res.StatusCode, res.Header.Get("Content-Type"))
	}
	res, err = client.PostForm(f.ts.URL+"/login", map[string][]string{"token": {"guess"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
		t.Fatalf("a wrong token: %d with cookies %v", res.StatusCode, res.Cookies())
	}
	res, err = client.PostForm(f.ts.URL+"/login", map[string][]string{"token": {testToken}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	cookies := res.Cookies()
	if res.StatusCode != http.StatusSeeOther || len(cookies) != 1 || !cookies[0].HttpOnly ||
		cookies[0].SameSite != http.SameSiteStrictMode || strings.Contains(cookies[0].Value, testToken) {
		t.Fatalf("login: %d cookies %+v", res.StatusCode, cookies)
	}
	for _, path := range []string{"/", "/app.js", "/api/hooks"} {
		req, _ := http.NewRequest("GET", f.ts.URL+path, nil)
		req.AddCookie(cookies[0])
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s with the session cookie: %d", path, res.StatusCode)
		}
	}
	req, _ = http.NewRequest("GET", f.ts.URL+"/api/hooks", nil)
	req.AddCookie(&http.Cookie{Name: cookies[0].Name, Value: strings.Repeat("0", len(cookies[0].Value))})
	if res, err := client.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a forged cookie: %v %v", res.StatusCode, err)
	}
}

func TestConsoleFiles(t *testing.T) {
	f := newFixture(t, func(o *admin.Options) { o.Token = "" })
	for path, ctype := range map[string]string{"/": "text/html", "/app.js": "text/javascript", "/app.css": "text/css"} {
		res, err := http.Get(f.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), ctype) ||
			res.Header.Get("ETag") == "" || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
			t.Errorf("%s: %d %v", path, res.StatusCode, res.Header)
		}
		req, _ := http.NewRequest("GET", f.ts.URL+path, nil)
		req.Header.Set("If-None-Match", res.Header.Get("ETag"))
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusNotModified {
			t.Errorf("%s again: %v %v, want 304", path, res.StatusCode, err)
		}
	}
	if res, err := http.Get(f.ts.URL + "/test/package.json"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("a file outside the console: %v %v", res.StatusCode, err)
	}
}

func TestEventsStreamRequestsAndAttempts(t *testing.T) {
	f := newFixture(t)
	s := f.openEvents(10 * time.Second)
	if name, text, ok := s.next(); !ok || name != ":" || text != "connected" {
		t.Fatalf("first line: %q %q %v", name, text, ok)
	}
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "lamp", Method: "POST", Path: "/post", Remote: "192.0.2.1:1",
		Status: 200, Delivery: "01LIVE", Duration: 1500 * time.Microsecond, Bytes: 12})
	var req map[string]any
	if err := json.Unmarshal([]byte(s.waitFor("request")), &req); err != nil {
		t.Fatal(err)
	}
	if req["delivery"] != "01LIVE" || req["hook"] != "lamp" || req["status"] != 200.0 || req["duration_ms"] != 1.5 {
		t.Errorf("request event: %v", req)
	}
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "lamp", Status: 401, Reason: "signature mismatch"})
	if data := s.waitFor("request"); !strings.Contains(data, `"class":"auth"`) || !strings.Contains(data, "signature mismatch") {
		t.Errorf("rejection event: %s", data)
	}
	f.srv.Attempt(postbox.AttemptEvent{Hook: "lamp", Next: postbox.StateDone,
		Attempt: postbox.Attempt{DeliveryID: "01LIVE", Kind: "exec", N: 1, Outcome: postbox.OutcomeOK}})
	var att map[string]any
	if err := json.Unmarshal([]byte(s.waitFor("attempt")), &att); err != nil {
		t.Fatal(err)
	}
	if att["delivery"] != "01LIVE" || att["outcome"] != "ok" || att["next"] != "done" || att["kind"] != "exec" {
		t.Errorf("attempt event: %v", att)
	}
}

func TestEventsKeepAliveAndClose(t *testing.T) {
	f := newFixture(t, func(o *admin.Options) { o.KeepAlive = 20 * time.Millisecond })
	s := f.openEvents(10 * time.Second)
	s.next() // connected
	if name, text, ok := s.next(); !ok || name != ":" || text != "keep-alive" {
		t.Fatalf("an idle stream sends %q %q %v, want a keep-alive comment", name, text, ok)
	}
	f.srv.Close()
	for {
		_, _, ok := s.next()
		if !ok {
			break
		}
	}
	if err := s.lines.Err(); err != nil {
		t.Errorf("the stream ended with %v, want a clean end on Close", err)
	}
	status, _ := f.do("GET", "/api/events", "")
	if status != http.StatusServiceUnavailable {
		t.Errorf("a new stream after Close: %d, want 503", status)
	}
}

func TestEventsEndOnClientDisconnect(t *testing.T) {
	f := newFixture(t)
	s := f.openEvents(10 * time.Second)
	s.next()
	if got := metricValue(t, f, "postbox_live_subscribers"); got != "1" {
		t.Fatalf("subscribers = %s, want 1", got)
	}
	s.close()
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, f, "postbox_live_subscribers") != "0" {
		if time.Now().After(deadline) {
			t.Fatal("the stream's subscriber is still there 10 s after the client left")
		}
		f.srv.Request(postbox.RequestEvent{Time: f.now, Status: 404}) // lets a blocked write notice
	}
}

// metricValue returns the value of the unlabelled series name in /metrics.
func metricValue(t *testing.T, f *fixture, name string) string {
	t.Helper()
	_, body := f.do("GET", "/metrics", "")
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return v
		}
	}
	return ""
}

func TestMetrics(t *testing.T) {
	f := newFixture(t)
	d := f.add("lamp", 1, time.Now(), `{}`) // a store commit
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "lamp", Status: 200, Delivery: d.ID, Duration: time.Millisecond})
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "lamp", Status: 401, Reason: "signature mismatch: secret abc"})
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "lamp", Status: 405, Reason: "method GET not allowed"})
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "", Status: 404, Reason: "no hook"})
	f.srv.Attempt(postbox.AttemptEvent{Hook: "lamp", Next: postbox.StateDead,
		Attempt: postbox.Attempt{Kind: "exec", Outcome: postbox.OutcomeTimeout, Duration: 2 * time.Second}})

	_, body := f.do("GET", "/metrics", "")
	text := string(body)
	for _, want := range []string{
		`postbox_requests_total{hook="lamp",status="200"} 1`,
		`postbox_requests_total{hook="lamp",status="401"} 1`,
		`postbox_request_duration_seconds_count{hook="lamp"} 3`,
		`postbox_rejections_total{hook="lamp",reason="auth"} 1`,
		`postbox_rejections_total{hook="lamp",reason="method"} 1`,
		`postbox_rejections_total{hook="",reason="not_found"} 1`,
		`postbox_store_commit_duration_seconds_count `,
		`postbox_store_commit_batch_size_count `,
		`postbox_queue_depth{hook="lamp"} 1`,
		`postbox_deliveries{hook="lamp",state="pending"} 1`,
		`postbox_dead_deliveries{hook="lamp"} 0`,
		`postbox_deliveries_dead_total{hook="lamp"} 1`,
		`postbox_attempts_total{hook="lamp",kind="exec",outcome="timeout"} 1`,
		`postbox_action_duration_seconds_count{kind="exec"} 1`,
		`postbox_live_subscribers 0`,
		`postbox_live_events_dropped_total 0`,
		`go_goroutines `,
		`process_start_time_seconds `,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, "signature mismatch") || strings.Contains(text, "abc") {
		t.Error("a free-text reason became a label")
	}
}

func TestServersDoNotShareMetrics(t *testing.T) {
	a, b := newFixture(t), newFixture(t)
	a.srv.Request(postbox.RequestEvent{Time: a.now, Hook: "lamp", Status: 200, Delivery: "x"})
	_, body := b.do("GET", "/metrics", "")
	if strings.Contains(string(body), `postbox_requests_total{hook="lamp"`) {
		t.Error("a second server sees the first one's requests")
	}
}
