package admin_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/admin"
	"github.com/postbox/postbox/sqlite"
)

const testToken = "s3cret-admin-token"

// testInstance is the id the fixture's instance registers with.
const testInstance = "01TESTINSTANCE"

// fixture is an admin server over a real SQLite store in a temp dir,
// served by a real httptest.Server.
type fixture struct {
	t        *testing.T
	db       *sqlite.DB
	srv      *admin.Server
	ts       *httptest.Server
	token    string
	notified atomic.Int32
	ids      postbox.IDGen
	now      time.Time
}

// tokenCheck is a verifier the console labels by its Go type name.
type tokenCheck struct{}

func (tokenCheck) Verify(*http.Request, []byte) error { return nil }

// githubCheck is a verifier that names its scheme.
type githubCheck struct{}

func (githubCheck) Verify(*http.Request, []byte) error { return nil }
func (githubCheck) Scheme() string                     { return "github" }

// kindAction is an action the tests never run: the queue is driven by
// hand through Store.Claim and Store.Finish.
type kindAction string

func (k kindAction) Kind() string { return string(k) }
func (k kindAction) Run(context.Context, *postbox.TemplateData) postbox.Result {
	return postbox.Result{Outcome: postbox.OutcomeOK}
}

func testHooks() []*postbox.Hook {
	return []*postbox.Hook{
		{ID: "lamp", Path: "/post", Methods: []string{"POST"}, Auth: []postbox.Verifier{tokenCheck{}},
			Actions: []postbox.Action{kindAction("exec")}},
		{ID: "gh", Path: "/hooks/gh", Methods: []string{"POST"}, Auth: []postbox.Verifier{githubCheck{}}},
	}
}

func newFixture(t *testing.T, opts ...func(*admin.Options)) *fixture {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, db: db, token: testToken, now: time.Date(2025, 6, 1, 12, 30, 30, 0, time.UTC)}
	// Registered as serve registers itself, so that the jobs it claims
	// are listed as this instance's.
	if err := db.Register(context.Background(), &postbox.Instance{ID: testInstance, Host: "test-host", PID: 42, Version: "test"}); err != nil {
		t.Fatal(err)
	}
	o := admin.Options{Store: db, Hooks: testHooks(), Token: testToken, Notify: func() { f.notified.Add(1) },
		HookBase: "http://127.0.0.1:8080", Now: func() time.Time { return f.now }, Instance: testInstance}
	for _, fn := range opts {
		fn(&o)
	}
	f.token = o.Token
	f.srv = admin.New(o)
	f.ts = httptest.NewServer(f.srv)
	t.Cleanup(func() {
		f.srv.Close()
		f.ts.Close()
		db.Close()
	})
	return f
}

// add stores a delivery of hook received at t with body (JSON when it
// starts with "{").
func (f *fixture) add(hook string, actions int, t time.Time, body string) *postbox.Delivery {
	f.t.Helper()
	ct := "text/plain"
	if strings.HasPrefix(body, "{") {
		ct = "application/json"
	}
	d := &postbox.Delivery{ID: f.ids.New(t), HookID: hook, Method: "POST", Path: "/post", Body: []byte(body),
		Header:     http.Header{"Content-Type": {ct}, "User-Agent": {"test"}},
		RemoteAddr: "192.0.2.7:4242", Received: t.UTC(), Actions: actions}
	if err := f.db.Append(context.Background(), d); err != nil {
		f.t.Fatal(err)
	}
	return d
}

// finish claims the due job of delivery id and finishes it with outcome,
// returning the job.
func (f *fixture) finish(id string, outcome postbox.Outcome, output string) *postbox.Job {
	f.t.Helper()
	ctx := context.Background()
	jobs, err := postbox.Claim(ctx, f.db, 10000, time.Minute)
	if err != nil {
		f.t.Fatal(err)
	}
	var job *postbox.Job
	for _, j := range jobs {
		if j.DeliveryID == id {
			job = j
			continue
		}
		if err := postbox.Release(ctx, f.db, j); err != nil {
			f.t.Fatal(err)
		}
	}
	if job == nil {
		f.t.Fatalf("no job for delivery %s", id)
	}
	next := postbox.JobTransition{Next: postbox.StateDone}
	if outcome != postbox.OutcomeOK {
		next.Next = postbox.StateFailed
	}
	a := &postbox.Attempt{DeliveryID: id, Series: job.Series, Action: job.Action, N: job.Attempt + 1, Kind: "exec",
		Started: time.Now().UTC(), Duration: 12 * time.Millisecond, Outcome: outcome, Output: output}
	if err := postbox.Finish(ctx, f.db, job, a, next); err != nil {
		f.t.Fatal(err)
	}
	return job
}

// do sends a request with the fixture's token and returns the answer's
// status and body.
func (f *fixture) do(method, path, body string) (int, []byte) {
	f.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.ts.URL+path, r)
	if err != nil {
		f.t.Fatal(err)
	}
	if f.token != "" {
		req.Header.Set("Authorization", "Bearer "+f.token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := f.ts.Client().Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return res.StatusCode, b
}

// getJSON GETs path, expects 200 and decodes the answer into v.
func (f *fixture) getJSON(path string, v any) {
	f.t.Helper()
	status, body := f.do("GET", path, "")
	if status != http.StatusOK {
		f.t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		f.t.Fatalf("GET %s: %v in %s", path, err, body)
	}
}

// sse is an open live-feed stream.
type sse struct {
	t      *testing.T
	res    *http.Response
	lines  *bufio.Scanner
	cancel context.CancelFunc
}

// openEvents opens GET /api/events; the stream is read within deadline.
func (f *fixture) openEvents(deadline time.Duration) *sse {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	req, _ := http.NewRequestWithContext(ctx, "GET", f.ts.URL+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+f.token)
	res, err := f.ts.Client().Do(req)
	if err != nil {
		cancel()
		f.t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		f.t.Fatalf("events: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	s := &sse{t: f.t, res: res, lines: bufio.NewScanner(res.Body), cancel: cancel}
	f.t.Cleanup(s.close)
	return s
}

func (s *sse) close() {
	s.cancel()
	s.res.Body.Close()
}

// next returns the next event (name and data) or comment (name ":" and
// the comment text); ok is false when the stream ended.
func (s *sse) next() (name, data string, ok bool) {
	for s.lines.Scan() {
		line := s.lines.Text()
		switch {
		case line == "" && (name != "" || data != ""):
			return name, data, true
		case strings.HasPrefix(line, ":"):
			return ":", strings.TrimSpace(line[1:]), true
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
	return "", "", false
}

// waitFor reads until an event named name arrives, failing when the
// stream ends first (the deadline of openEvents bounds the wait).
func (s *sse) waitFor(name string) string {
	s.t.Helper()
	for {
		n, data, ok := s.next()
		if !ok {
			s.t.Fatalf("the stream ended before a %q event: %v", name, s.lines.Err())
		}
		if n == name {
			return data
		}
	}
}
