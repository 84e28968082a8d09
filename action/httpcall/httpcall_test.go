package httpcall_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/action/httpcall"
	"github.com/postbox/postbox/internal/payload"
	"github.com/postbox/postbox/signature"
	"gopkg.in/yaml.v3"
)

// received is one request as a target saw it.
type received struct {
	Method string
	Path   string
	Host   string
	Header http.Header
	Body   []byte
}

// target is an httptest server that records requests and answers with
// answer (200 and "ok" when nil).
type target struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []received
}

func newTarget(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, n int)) *target {
	t.Helper()
	tg := &target{}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		tg.mu.Lock()
		tg.reqs = append(tg.reqs, received{r.Method, r.URL.RequestURI(), r.Host, r.Header.Clone(), body})
		n := len(tg.reqs)
		tg.mu.Unlock()
		if answer == nil {
			io.WriteString(w, "ok")
			return
		}
		answer(w, r, n)
	}))
	t.Cleanup(tg.Close)
	return tg
}

func (tg *target) requests() []received {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return append([]received(nil), tg.reqs...)
}

func (tg *target) last(t *testing.T) received {
	t.Helper()
	r := tg.requests()
	if len(r) == 0 {
		t.Fatal("the target received no request")
	}
	return r[len(r)-1]
}

func delivery(body []byte, header http.Header) *postbox.TemplateData {
	if header == nil {
		header = http.Header{}
	}
	return payload.TemplateData(&postbox.Delivery{
		ID: "dlv_01HZY", HookID: "gh", Method: "POST", Path: "/gh", Header: header, Body: body,
		Received: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
	})
}

func jsonDelivery(body string) *postbox.TemplateData {
	return delivery([]byte(body), http.Header{"Content-Type": {"application/json"}})
}

func mustNew(t *testing.T, c httpcall.Config) *httpcall.Action {
	t.Helper()
	a, err := httpcall.New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { a.Cleanup() })
	return a
}

func ptr[T any](v T) *T { return &v }

func TestSuccessForwardsTheBodyWithItsContentType(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"queued":true}`)
	})
	a := mustNew(t, httpcall.Config{URL: tg.URL + "/in/{{ .Hook.ID }}?d={{ urlquery .Delivery.ID }}",
		Headers: map[string]string{"X-Event": "{{ .Payload.action }}"}})
	res := a.Run(context.Background(), jsonDelivery(`{"action":"opened"}`))
	if res.Outcome != postbox.OutcomeOK || res.Status != 201 || res.Err != nil {
		t.Fatalf("result = %+v, want ok with status 201", res)
	}
	if res.Output != `{"queued":true}` || res.Truncated {
		t.Errorf("output = %q (truncated %t), want the response body", res.Output, res.Truncated)
	}
	got := tg.last(t)
	if got.Method != "POST" || got.Path != "/in/gh?d=dlv_01HZY" {
		t.Errorf("request = %s %s, want POST /in/gh?d=dlv_01HZY", got.Method, got.Path)
	}
	if string(got.Body) != `{"action":"opened"}` {
		t.Errorf("body = %q, want the raw body", got.Body)
	}
	if ct := got.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want the original application/json", ct)
	}
	if ev := got.Header.Get("X-Event"); ev != "opened" {
		t.Errorf("X-Event = %q, want opened", ev)
	}
	if ua := got.Header.Get("User-Agent"); ua != "postbox" {
		t.Errorf("User-Agent = %q, want postbox", ua)
	}
	if a.Kind() != "http" || a.Timeout() != httpcall.DefaultTimeout {
		t.Errorf("Kind, Timeout = %q, %s; want http, %s", a.Kind(), a.Timeout(), httpcall.DefaultTimeout)
	}
}

func TestConfiguredContentTypeAndBodyWin(t *testing.T) {
	tg := newTarget(t, nil)
	a := mustNew(t, httpcall.Config{URL: tg.URL, Method: "put",
		Headers: map[string]string{"content-type": "text/plain"},
		Body:    ptr(`state={{ .Payload.state }}`)})
	if res := a.Run(context.Background(), jsonDelivery(`{"state":"on"}`)); res.Outcome != postbox.OutcomeOK {
		t.Fatalf("result = %+v", res)
	}
	got := tg.last(t)
	if got.Method != "PUT" || string(got.Body) != "state=on" || got.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("got %s %q with Content-Type %q, want PUT \"state=on\" text/plain", got.Method, got.Body, got.Header.Get("Content-Type"))
	}
}

func TestGetSendsNoBodyByDefault(t *testing.T) {
	tg := newTarget(t, nil)
	a := mustNew(t, httpcall.Config{URL: tg.URL + "/ping", Method: "GET", Headers: map[string]string{"Host": "lamp.local"}})
	if res := a.Run(context.Background(), jsonDelivery(`{"state":"on"}`)); res.Outcome != postbox.OutcomeOK {
		t.Fatalf("result = %+v", res)
	}
	got := tg.last(t)
	if len(got.Body) != 0 || got.Header.Get("Content-Type") != "" {
		t.Errorf("GET carried body %q, Content-Type %q; want neither", got.Body, got.Header.Get("Content-Type"))
	}
	if got.Host != "lamp.local" {
		t.Errorf("Host = %q, want lamp.local from headers", got.Host)
	}
}

func TestEmptyBodyTemplateSendsNothing(t *testing.T) {
	tg := newTarget(t, nil)
	a := mustNew(t, httpcall.Config{URL: tg.URL, Body: ptr("")})
	if res := a.Run(context.Background(), jsonDelivery(`{"x":1}`)); res.Outcome != postbox.OutcomeOK {
		t.Fatalf("result = %+v", res)
	}
	if got := tg.last(t); len(got.Body) != 0 {
		t.Errorf("body = %q, want empty", got.Body)
	}
}

func TestATargetThatFailsThreeTimesThenSucceeds(t *testing.T) {
	const failures = 3
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n <= failures {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "SUCCESS")
	})
	a := mustNew(t, httpcall.Config{URL: tg.URL})
	for i := 1; i <= failures+1; i++ {
		res := a.Run(context.Background(), jsonDelivery(`{}`))
		wantOutcome, wantStatus := postbox.OutcomeFailed, 503
		if i > failures {
			wantOutcome, wantStatus = postbox.OutcomeOK, 200
		}
		if res.Outcome != wantOutcome || res.Status != wantStatus || res.Permanent {
			t.Errorf("call %d: outcome %s, status %d, permanent %t; want %s, %d, retryable",
				i, res.Outcome, res.Status, res.Permanent, wantOutcome, wantStatus)
		}
		if i <= failures && (res.Err == nil || !strings.Contains(res.Output, "warming up")) {
			t.Errorf("call %d: err %v, output %q; want an error and the body", i, res.Err, res.Output)
		}
	}
	if n := len(tg.requests()); n != failures+1 {
		t.Errorf("target saw %d requests, want %d", n, failures+1)
	}
}

func TestStatusesDecideTheOutcome(t *testing.T) {
	tests := []struct {
		status    int
		outcome   postbox.Outcome
		permanent bool
	}{
		{200, postbox.OutcomeOK, false},
		{202, postbox.OutcomeOK, false},
		{204, postbox.OutcomeOK, false},
		{400, postbox.OutcomeFailed, true},
		{401, postbox.OutcomeFailed, true},
		{404, postbox.OutcomeFailed, true},
		{422, postbox.OutcomeFailed, true},
		{408, postbox.OutcomeFailed, false},
		{429, postbox.OutcomeFailed, false},
		{500, postbox.OutcomeFailed, false},
		{502, postbox.OutcomeFailed, false},
		{503, postbox.OutcomeFailed, false},
		{302, postbox.OutcomeFailed, true},
		{308, postbox.OutcomeFailed, true},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if tt.status >= 300 && tt.status < 400 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
			})
			a := mustNew(t, httpcall.Config{URL: tg.URL})
			res := a.Run(context.Background(), jsonDelivery(`{}`))
			if res.Outcome != tt.outcome || res.Permanent != tt.permanent || res.Status != tt.status {
				t.Errorf("status %d gave outcome %s, permanent %t, status %d; want %s, %t",
					tt.status, res.Outcome, res.Permanent, res.Status, tt.outcome, tt.permanent)
			}
			if n := len(tg.requests()); n != 1 {
				t.Errorf("target saw %d requests, want 1 (redirects are not followed)", n)
			}
		})
	}
}

func TestA400IsPermanent(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		http.Error(w, `{"error":"unknown field"}`, http.StatusBadRequest)
	})
	a := mustNew(t, httpcall.Config{URL: tg.URL})
	res := a.Run(context.Background(), jsonDelivery(`{}`))
	if res.Outcome != postbox.OutcomeFailed || !res.Permanent || res.Status != 400 {
		t.Fatalf("result = %+v, want failed, permanent, 400", res)
	}
	if !strings.Contains(res.Output, "unknown field") || res.Err == nil {
		t.Errorf("output %q, err %v: want the body and an error", res.Output, res.Err)
	}
}

func TestA429CarriesRetryAfter(t *testing.T) {
	tests := []struct {
		name  string
		value string
		min   time.Duration
		max   time.Duration
	}{
		{"in seconds", "7", 7 * time.Second, 7 * time.Second},
		{"as an HTTP date", time.Now().Add(2 * time.Minute).UTC().Format(http.TimeFormat), time.Minute, 2 * time.Minute},
		{"capped at an hour", "86400", httpcall.MaxRetryAfter, httpcall.MaxRetryAfter},
		{"absent", "", 0, 0},
		{"garbled", "soon", 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if tt.value != "" {
					w.Header().Set("Retry-After", tt.value)
				}
				w.WriteHeader(http.StatusTooManyRequests)
			})
			a := mustNew(t, httpcall.Config{URL: tg.URL})
			res := a.Run(context.Background(), jsonDelivery(`{}`))
			if res.Outcome != postbox.OutcomeFailed || res.Permanent || res.Status != 429 {
				t.Fatalf("result = %+v, want a retryable 429", res)
			}
			if res.RetryAfter < tt.min || res.RetryAfter > tt.max {
				t.Errorf("RetryAfter = %s, want between %s and %s", res.RetryAfter, tt.min, tt.max)
			}
		})
	}
}

func TestASlowTargetTimesOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	a := mustNew(t, httpcall.Config{URL: tg.URL, Timeout: 50 * time.Millisecond})
	res := a.Run(context.Background(), jsonDelivery(`{}`))
	if res.Outcome != postbox.OutcomeTimeout || res.Permanent || res.Err == nil {
		t.Fatalf("result = %+v, want a retryable timeout", res)
	}
	if a.Timeout() != 50*time.Millisecond {
		t.Errorf("Timeout() = %s, want 50ms", a.Timeout())
	}
}

func TestACallerDeadlineIsATimeout(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, n int) { <-r.Context().Done() })
	a := mustNew(t, httpcall.Config{URL: tg.URL})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if res := a.Run(ctx, jsonDelivery(`{}`)); res.Outcome != postbox.OutcomeTimeout {
		t.Fatalf("result = %+v, want a timeout (a sync hook's deadline)", res)
	}
}

func TestAStoppedCallIsNotATimeout(t *testing.T) {
	arrived := make(chan struct{})
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		close(arrived)
		<-r.Context().Done()
	})
	a := mustNew(t, httpcall.Config{URL: tg.URL})
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-arrived; cancel() }()
	res := a.Run(ctx, jsonDelivery(`{}`))
	if res.Outcome != postbox.OutcomeError || res.Permanent || !errors.Is(res.Err, context.Canceled) {
		t.Fatalf("result = %+v, want a retryable error wrapping context.Canceled", res)
	}
}

func TestANetworkErrorIsRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now: connection refused
	a := mustNew(t, httpcall.Config{URL: "http://" + addr + "/hook?key=s3cret"})
	res := a.Run(context.Background(), jsonDelivery(`{}`))
	if res.Outcome != postbox.OutcomeError || res.Permanent || res.Status != 0 || res.Err == nil {
		t.Fatalf("result = %+v, want a retryable error without status", res)
	}
	if strings.Contains(res.Err.Error(), "s3cret") {
		t.Errorf("error %q repeats the URL and its key", res.Err)
	}
}

func TestALongResponseIsTruncated(t *testing.T) {
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Write(bytes.Repeat([]byte("x"), 3*httpcall.MaxOutput))
	})
	a := mustNew(t, httpcall.Config{URL: tg.URL})
	res := a.Run(context.Background(), jsonDelivery(`{}`))
	if res.Outcome != postbox.OutcomeOK || len(res.Output) != httpcall.MaxOutput || !res.Truncated {
		t.Fatalf("outcome %s, output %d bytes, truncated %t; want ok, %d, true", res.Outcome, len(res.Output), res.Truncated, httpcall.MaxOutput)
	}
}

func TestRenderingProblemsArePermanent(t *testing.T) {
	tests := []struct {
		name string
		c    httpcall.Config
	}{
		{"a url that renders an invalid escape", httpcall.Config{URL: "http://127.0.0.1:1/{{ raw .Payload.host }}"}},
		{"a header value that renders a line break", httpcall.Config{URL: "http://127.0.0.1:1/", Headers: map[string]string{"X-A": "{{ .Payload.v }}"}}},
		{"a body that fails to render", httpcall.Config{URL: "http://127.0.0.1:1/", Body: ptr(`{{ json .Payload.f }}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, tt.c)
			data := delivery([]byte(`{}`), nil)
			data.Payload = map[string]any{"host": "%zz", "v": "a\r\nX-Injected: 1", "f": func() {}}
			res := a.Run(context.Background(), data)
			if res.Outcome != postbox.OutcomeError || !res.Permanent || res.Err == nil {
				t.Fatalf("result = %+v, want a permanent error", res)
			}
		})
	}
}

// TestTheRawBodyIsForwardedByteForByte sends a body that any JSON
// re-serialization would change (spacing, key order, escapes, invalid
// UTF-8, a trailing newline) with the sender's GitHub-style signature, and
// verifies that signature at the target over the bytes it received.
func TestTheRawBodyIsForwardedByteForByte(t *testing.T) {
	const secret = "sender-secret"
	raw := []byte("{ \"z\":1,  \"a\" : \"caf\\u00e9 \xff\xfe\",\r\n\t\"n\": 1.50e+2 }\n")
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(raw)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))

	for _, body := range []*string{nil, ptr("{{ .Body }}")} {
		name := "by default"
		if body != nil {
			name = "with body {{ .Body }}"
		}
		t.Run(name, func(t *testing.T) {
			tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, n int) {})
			a := mustNew(t, httpcall.Config{URL: tg.URL, Body: body,
				Headers: map[string]string{"X-Hub-Signature-256": `{{ .Header.Get "X-Hub-Signature-256" }}`}})
			data := delivery(raw, http.Header{"Content-Type": {"application/json"}, "X-Hub-Signature-256": {sig}})
			if res := a.Run(context.Background(), data); res.Outcome != postbox.OutcomeOK {
				t.Fatalf("result = %+v", res)
			}
			got := tg.last(t)
			if !bytes.Equal(got.Body, raw) {
				t.Fatalf("target received %q, want %q", got.Body, raw)
			}
			m := hmac.New(sha256.New, []byte(secret))
			m.Write(got.Body)
			want := "sha256=" + hex.EncodeToString(m.Sum(nil))
			if !hmac.Equal([]byte(got.Header.Get("X-Hub-Signature-256")), []byte(want)) {
				t.Errorf("the sender's signature does not verify at the target")
			}
		})
	}
}

// verifyStandardWebhooks is an independent Standard Webhooks verifier, as
// a receiving service implements it from the specification.
func verifyStandardWebhooks(secret string, h http.Header, body []byte, now time.Time) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts == "" {
		return errors.New("missing webhook-id or webhook-timestamp")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return err
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp outside tolerance")
	}
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + ts + "."))
	m.Write(body)
	want := m.Sum(nil)
	for _, s := range strings.Fields(h.Get("webhook-signature")) {
		version, b64, ok := strings.Cut(s, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(b64)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no matching v1 signature")
}

func TestStandardWebhooksSignatureVerifiesAtTheTarget(t *testing.T) {
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a 32-byte key for the test suite"))
	tg := newTarget(t, nil)
	a := mustNew(t, httpcall.Config{URL: tg.URL,
		Sign: &httpcall.SignConfig{StandardWebhooks: &httpcall.StandardWebhooksConfig{Secret: secret}}})
	raw := []byte(`{"type":"invoice.paid", "id": 7}`)
	if res := a.Run(context.Background(), jsonDelivery(string(raw))); res.Outcome != postbox.OutcomeOK {
		t.Fatalf("result = %+v", res)
	}
	got := tg.last(t)
	if err := verifyStandardWebhooks(secret, got.Header, got.Body, time.Now()); err != nil {
		t.Fatalf("signature does not verify: %v (headers %v)", err, got.Header)
	}
	if id := got.Header.Get("webhook-id"); id != "dlv_01HZY" {
		t.Errorf("webhook-id = %q, want the delivery id", id)
	}
	if !bytes.Equal(got.Body, raw) {
		t.Errorf("body = %q, want the raw body", got.Body)
	}
	other := "whsec_" + base64.StdEncoding.EncodeToString([]byte("another key, not the one it used"))
	if err := verifyStandardWebhooks(other, got.Header, got.Body, time.Now()); err == nil {
		t.Errorf("signature verifies with another key")
	}
	tampered := append(bytes.Clone(got.Body), ' ')
	if err := verifyStandardWebhooks(secret, got.Header, tampered, time.Now()); err == nil {
		t.Errorf("signature verifies over a changed body")
	}
}

func TestHMACSignatureVerifiesAtTheTarget(t *testing.T) {
	tg := newTarget(t, nil)
	a := mustNew(t, httpcall.Config{URL: tg.URL, Body: ptr(`{"state":"{{ .Payload.state }}"}`),
		Sign: &httpcall.SignConfig{HMAC: &httpcall.HMACConfig{
			Header: "X-Signature", Algorithm: "sha1", Encoding: "base64", Prefix: "sha1=", Secret: "k3y"}}})
	if res := a.Run(context.Background(), jsonDelivery(`{"state":"on"}`)); res.Outcome != postbox.OutcomeOK {
		t.Fatalf("result = %+v", res)
	}
	got := tg.last(t)
	m := hmac.New(sha1.New, []byte("k3y"))
	m.Write(got.Body)
	want := "sha1=" + base64.StdEncoding.EncodeToString(m.Sum(nil))
	if string(got.Body) != `{"state":"on"}` || got.Header.Get("X-Signature") != want {
		t.Errorf("body %q signed %q, want %q signed %q", got.Body, got.Header.Get("X-Signature"), `{"state":"on"}`, want)
	}
}

func TestConcurrentCallsShareTheAction(t *testing.T) {
	var n atomic.Int64
	tg := newTarget(t, func(w http.ResponseWriter, r *http.Request, _ int) { n.Add(1) })
	a := mustNew(t, httpcall.Config{URL: tg.URL})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if res := a.Run(context.Background(), jsonDelivery(`{}`)); res.Outcome != postbox.OutcomeOK {
				t.Errorf("result = %+v", res)
			}
		})
	}
	wg.Wait()
	if n.Load() != 20 {
		t.Errorf("target saw %d requests, want 20", n.Load())
	}
}

// A postbox that receives what another forwards verifies it with its own
// standard_webhooks scheme.
func TestPostboxVerifiesWhatPostboxSigns(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	v, err := signature.StandardWebhooks.New(func(p any) error {
		return yaml.Unmarshal([]byte("secret: "+secret), p)
	})
	if err != nil {
		t.Fatal(err)
	}
	verified := make(chan error, 1)
	tg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		verified <- v.Verify(r, body)
	}))
	defer tg.Close()
	a := mustNew(t, httpcall.Config{URL: tg.URL,
		Sign: &httpcall.SignConfig{StandardWebhooks: &httpcall.StandardWebhooksConfig{Secret: secret}}})
	if res := a.Run(context.Background(), jsonDelivery(`{"id":1}`)); res.Outcome != postbox.OutcomeOK {
		t.Fatalf("result = %+v", res)
	}
	if err := <-verified; err != nil {
		t.Errorf("signature.StandardWebhooks rejects the forwarded request: %v", err)
	}
}
