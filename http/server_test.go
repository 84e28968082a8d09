package http_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/config"
	phttp "github.com/postbox/postbox/http"
	"github.com/postbox/postbox/queue"
	"github.com/postbox/postbox/sqlite"
)

// serve starts the ingress and a queue on a real SQLite store for the
// hooks in yamlHooks, and returns its URL and the store.
func serve(t *testing.T, yamlHooks string) (string, *sqlite.DB) {
	t.Helper()
	return serveWith(t, yamlHooks, phttp.Limits{})
}

func serveWith(t *testing.T, yamlHooks string, limits phttp.Limits) (string, *sqlite.DB) {
	t.Helper()
	cfg, err := config.Parse("test.yaml", []byte("trusted_proxies: [127.0.0.1]\nhooks:\n"+yamlHooks), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	q := queue.New(queue.Options{Store: db, Hooks: cfg.Hooks, Workers: 2, Poll: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	srv := phttp.NewServer(phttp.Options{Store: db, Hooks: cfg.Hooks, Notify: q.Notify, Runner: q, TrustedProxies: cfg.TrustedProxies, Limits: limits})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Shutdown(context.Background())
		cancel()
		<-done
		db.Close()
	})
	return "http://" + ln.Addr().String(), db
}

func post(t *testing.T, url, body string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func TestASyncHookAnswersWithItsActionsResult(t *testing.T) {
	url, _ := serve(t, `
  - id: run
    mode: sync
    timeout: 5s
    actions:
      - exec: {command: sh, args: ["-c", "echo hi $0; exit $1", "{{ .Payload.who }}", "{{ .Payload.code }}"]}
    response: {status: 201, error_status: 500, body: "exit={{ .Result.ExitCode }} out={{ .Result.Output }}"}
`)
	res, body := post(t, url+"/hooks/run", `{"who":"ann","code":0}`, map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != 201 || body != "exit=0 out=hi ann\n" {
		t.Errorf("success: %d %q", res.StatusCode, body)
	}
	res, body = post(t, url+"/hooks/run", `{"who":"bo","code":4}`, map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != 500 || body != "exit=4 out=hi bo\n" {
		t.Errorf("failure: %d %q", res.StatusCode, body)
	}
}

func TestASyncHookPastItsTimeoutAnswersTheErrorStatus(t *testing.T) {
	url, db := serve(t, `
  - id: slow
    mode: sync
    timeout: 200ms
    actions:
      - exec: {command: sleep, args: ["10"]}
`)
	start := time.Now()
	res, _ := post(t, url+"/hooks/slow", "", nil)
	if res.StatusCode != http.StatusBadGateway {
		t.Errorf("status %d, want 502", res.StatusCode)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("answered after %s: the timeout did not stop the command", took)
	}
	d, err := db.Delivery(context.Background(), res.Header.Get(phttp.DeliveryHeader))
	if err != nil {
		t.Fatal(err)
	}
	// A timeout is a failure a retry could fix: with the one attempt by
	// default, the delivery is dead (docs/actions.md, Delivery states).
	if d.State != postbox.StateDead || len(d.Attempts) != 1 || d.Attempts[0].Outcome != postbox.OutcomeTimeout {
		t.Errorf("stored %q with attempts %+v", d.State, d.Attempts)
	}
}

func TestARepeatedDedupKeyIsAnsweredButRunsNothing(t *testing.T) {
	url, db := serve(t, `
  - id: dd
    dedup: {key: "{{ .Header.Get \"X-Event-Id\" }}", window: 1h}
    actions:
      - exec: {command: "true"}
`)
	first, _ := post(t, url+"/hooks/dd", "a", map[string]string{"X-Event-Id": "e1"})
	again, _ := post(t, url+"/hooks/dd", "a", map[string]string{"X-Event-Id": "e1"})
	other, _ := post(t, url+"/hooks/dd", "a", map[string]string{"X-Event-Id": "e2"})
	if first.StatusCode != 200 || again.StatusCode != 200 || other.StatusCode != 200 {
		t.Fatalf("statuses %d %d %d", first.StatusCode, again.StatusCode, other.StatusCode)
	}
	firstID := first.Header.Get(phttp.DeliveryHeader)
	if got := again.Header.Get(phttp.DuplicateHeader); got != firstID {
		t.Errorf("duplicate names %q, want %q", got, firstID)
	}
	if other.Header.Get(phttp.DuplicateHeader) != "" {
		t.Error("a new key was taken as a duplicate")
	}
	d, _ := db.Delivery(context.Background(), again.Header.Get(phttp.DeliveryHeader))
	if d.State != postbox.StateDuplicate || d.DuplicateOf != firstID || len(d.Attempts) != 0 {
		t.Errorf("duplicate stored as %q of %q with %d attempts", d.State, d.DuplicateOf, len(d.Attempts))
	}
}

func TestTokensAreNotStored(t *testing.T) {
	url, db := serve(t, `
  - id: t
    auth: {token: {header: X-Token, secret: s3cret, query: token}}
`)
	res, _ := post(t, url+"/hooks/t?token=s3cret&x=1", "", map[string]string{"X-Token": "s3cret"})
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	res2, _ := post(t, url+"/hooks/t", "", map[string]string{"Authorization": "Bearer s3cret"})
	for _, r := range []*http.Response{res, res2} {
		d, err := db.Delivery(context.Background(), r.Header.Get(phttp.DeliveryHeader))
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(d.Header.Values("X-Token"), "") + strings.Join(d.Header.Values("Authorization"), "") + d.Query.Encode()
		if strings.Contains(all, "s3cret") {
			t.Errorf("a secret was stored: header %v query %v", d.Header, d.Query)
		}
	}
}

func TestForwardedForIsBelievedOnlyFromTrustedProxies(t *testing.T) {
	url, db := serve(t, `
  - id: ip
`)
	res, _ := post(t, url+"/hooks/ip", "", map[string]string{"X-Forwarded-For": "203.0.113.9, 127.0.0.1"})
	d, _ := db.Delivery(context.Background(), res.Header.Get(phttp.DeliveryHeader))
	if d.RemoteAddr != "203.0.113.9:0" {
		t.Errorf("remote %q, want the client behind the trusted proxy", d.RemoteAddr)
	}
}

func TestHealthz(t *testing.T) {
	url, _ := serve(t, "  - id: x\n")
	res, err := http.Get(url + "/healthz")
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("healthz: %v %v", res, err)
	}
}

// failedStore is a store that refuses writes for good, as the SQLite
// store does after a failed fsync.
type failedStore struct{ *sqlite.DB }

func (failedStore) Healthy() error { return errors.New("sync: input/output error") }

func TestHealthzReportsAFailedStore(t *testing.T) {
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	srv := phttp.NewServer(phttp.Options{Store: failedStore{db}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	res, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "input/output error") {
		t.Errorf("healthz = %d %q, want 503 naming the store's error", res.StatusCode, body)
	}
}

func TestBeyondMaxInflightRequestsAreRefusedAtOnce(t *testing.T) {
	started := filepath.Join(t.TempDir(), "started")
	url, _ := serveWith(t, `
  - id: slow
    mode: sync
    timeout: 10s
    actions:
      - exec: {command: sh, args: ["-c", "touch `+started+`; sleep 2"]}
`, phttp.Limits{MaxInflight: 1})
	first := make(chan int, 1)
	go func() {
		// Not post: its t.Fatal would end this goroutine, not the test,
		// and the test would then wait on first forever.
		res, err := http.Post(url+"/hooks/slow", "", nil)
		if err != nil {
			t.Errorf("first request: %v", err)
			first <- 0
			return
		}
		res.Body.Close()
		first <- res.StatusCode
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first request never started its action")
		}
		time.Sleep(5 * time.Millisecond)
	}
	res, body := post(t, url+"/hooks/slow", "", nil)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("second request: %d %q Retry-After %q, want 503 with Retry-After", res.StatusCode, body, res.Header.Get("Retry-After"))
	}
	if st := <-first; st != 200 {
		t.Errorf("first request: %d", st)
	}
}

func TestExitStatusMapsACommandsExitCodeToTheAnswer(t *testing.T) {
	url, _ := serve(t, `
  - id: find
    mode: sync
    actions:
      - exec: {command: sh, args: ["-c", "exit $0", "{{ .Payload.code }}"]}
    response: {status: 200, error_status: 500, exit_status: {3: 404, 4: 409}, body: "{{ .Result.ExitCode }}"}
`)
	for code, want := range map[string]int{"0": 200, "3": 404, "4": 409, "5": 500} {
		res, body := post(t, url+"/hooks/find", `{"code":`+code+`}`, map[string]string{"Content-Type": "application/json"})
		if res.StatusCode != want || body != code {
			t.Errorf("exit %s: %d %q, want %d", code, res.StatusCode, body, want)
		}
	}
}

func TestASyncHookWhoseEarlierActionFailedAnswersTheErrorStatus(t *testing.T) {
	url, db := serve(t, `
  - id: both
    mode: sync
    timeout: 5s
    continue_on_error: true
    actions:
      - exec: {command: sh, args: ["-c", "exit 2"]}
      - exec: {command: sh, args: ["-c", "echo second"]}
    response: {status: 200, error_status: 502, body: "{{ .Result.Output }}"}
`)
	res, body := post(t, url+"/hooks/both", `{}`, map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != 502 || body != "second\n" {
		t.Errorf("answered %d %q, want 502 with the last action's output", res.StatusCode, body)
	}
	d, err := db.Delivery(context.Background(), res.Header.Get(phttp.DeliveryHeader))
	if err != nil {
		t.Fatal(err)
	}
	if d.State == postbox.StateDone {
		t.Errorf("stored %q: an action failed", d.State)
	}
}

func TestASyncHooksDuplicateGetsTheFirstAnswer(t *testing.T) {
	url, _ := serve(t, `
  - id: once
    mode: sync
    timeout: 5s
    dedup: {key: "{{ .Payload.id }}", window: 1h}
    actions:
      - exec: {command: sh, args: ["-c", "echo ran $0; exit 3", "{{ .Payload.id }}"]}
    response: {status: 200, error_status: 500, body: "exit={{ .Result.ExitCode }} out={{ .Result.Output }}"}
`)
	first, firstBody := post(t, url+"/hooks/once", `{"id":"a1"}`, map[string]string{"Content-Type": "application/json"})
	again, againBody := post(t, url+"/hooks/once", `{"id":"a1"}`, map[string]string{"Content-Type": "application/json"})
	if first.StatusCode != 500 || firstBody != "exit=3 out=ran a1\n" {
		t.Fatalf("first: %d %q", first.StatusCode, firstBody)
	}
	if again.Header.Get(phttp.DuplicateHeader) == "" || again.StatusCode != first.StatusCode || againBody != firstBody {
		t.Errorf("duplicate: %d %q (duplicate of %q), want the first answer %d %q",
			again.StatusCode, againBody, again.Header.Get(phttp.DuplicateHeader), first.StatusCode, firstBody)
	}
}

func TestASyncHooksDefaultBodySaysTheStateAfterItsActions(t *testing.T) {
	url, _ := serve(t, `
  - id: plain
    mode: sync
    timeout: 5s
    actions:
      - exec: {command: "true"}
`)
	res, body := post(t, url+"/hooks/plain", `{}`, map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != 200 || !strings.Contains(body, `"status":"done"`) {
		t.Errorf("answered %d %q, want 200 saying done", res.StatusCode, body)
	}
}
