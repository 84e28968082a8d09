package e2e

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	relayAdminToken = "admin-token-for-the-relay-tests"
	relayToken      = "relay-token-for-alices-laptop"
)

// listenPublicConfig is the public postbox: one hook per signing provider, an
// admin listener on @ADMIN@ with a relay token limited to those hooks.
const listenPublicConfig = `
listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:@ADMIN@
  token: ` + relayAdminToken + `
  tokens:
    - {name: laptop, token: ` + relayToken + `, scopes: [relay], hooks: [github, stripe, standard_webhooks]}
data: ./data
hooks:
  - id: github
    auth: {github: {secret: gh-s3cret}}
  - id: stripe
    auth: {stripe: {secret: whsec_stripe-s3cret, tolerance: 5m}}
  - id: standard_webhooks
    auth: {standard_webhooks: {secret: "@SWSECRET@"}}
  - id: other
`

// relayPublic starts the public postbox on a fixed admin port, so that a
// restart keeps its address.
func relayPublic(t *testing.T) (s *server, adminURL string) {
	t.Helper()
	p := freePort(t)
	s = startServer(t, strings.NewReplacer("@ADMIN@", p, "@SWSECRET@", swSecret).Replace(listenPublicConfig))
	return s, "http://127.0.0.1:" + p
}

// received is one request the local target got.
type received struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// localTarget is the developer's local app: it records every request.
type localTarget struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	more chan struct{}
}

func newLocalTarget(t *testing.T) *localTarget {
	tg := &localTarget{more: make(chan struct{}, 1000)}
	tg.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		tg.mu.Lock()
		tg.got = append(tg.got, received{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), b})
		tg.mu.Unlock()
		tg.more <- struct{}{}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(tg.Close)
	return tg
}

// wait returns the requests once there are at least n (within 20 s).
func (tg *localTarget) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		tg.mu.Lock()
		got := append([]received(nil), tg.got...)
		tg.mu.Unlock()
		if len(got) >= n {
			return got
		}
		select {
		case <-tg.more:
		case <-deadline:
			t.Fatalf("the target got %d requests, want %d", len(got), n)
		}
	}
}

// listenProc is a running `postbox listen`.
type listenProc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncWriter
	done           chan struct{}
}

// startListen runs postbox listen with args and waits until it says it is
// connected (the count-th time in its output, for a restart of the
// public side).
func startListen(t *testing.T, args ...string) *listenProc {
	t.Helper()
	return startListenEnv(t, nil, args...)
}

// startListenEnv is startListen with env added to the process's
// environment.
func startListenEnv(t *testing.T, env []string, args ...string) *listenProc {
	t.Helper()
	p := &listenProc{cmd: exec.Command(binary, append([]string{"listen"}, args...)...), stdout: &syncWriter{}, stderr: &syncWriter{},
		done: make(chan struct{})}
	p.cmd.Env = append(baseEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("postbox listen stdout:\n%s\nstderr:\n%s", p.stdout, p.stderr)
		}
	})
	p.waitConnected(t, 1)
	return p
}

func (p *listenProc) waitConnected(t *testing.T, count int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for strings.Count(p.stderr.String(), "connected to ") < count {
		select {
		case <-p.done:
			t.Fatalf("postbox listen ended: %s", p.stderr)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("postbox listen did not connect: %s", p.stderr)
		}
	}
}

func (p *listenProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

// verifyAtTarget checks that what the target got carries the provider's valid
// signature over the body it got: the signature is made again here from
// the received body, timestamp and id, as the provider documents it.
func verifyAtTarget(t *testing.T, p provider, r received) {
	t.Helper()
	id := r.header.Get("X-Github-Delivery") + r.header.Get("Webhook-Id")
	at := time.Now()
	if ts := r.header.Get("Webhook-Timestamp"); ts != "" {
		n, _ := strconv.ParseInt(ts, 10, 64)
		at = time.Unix(n, 0)
	}
	if sig := r.header.Get("Stripe-Signature"); sig != "" {
		ts, _, _ := strings.Cut(strings.TrimPrefix(sig, "t="), ",")
		n, _ := strconv.ParseInt(ts, 10, 64)
		at = time.Unix(n, 0)
	}
	for k, v := range p.sign(p.secret, id, at, r.body) {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s at the target: %s = %q, want %q (the signature does not verify)", p.name, k, got, v)
		}
	}
}

// TestListenRelaysSignedDeliveries: GitHub-, Stripe- and Standard
// Webhooks-signed deliveries accepted by a public postbox reach a local
// target through postbox listen with their signatures valid, body byte
// for byte; the public side records the listener.
func TestListenRelaysSignedDeliveries(t *testing.T) {
	t.Parallel()
	pub, adminURL := relayPublic(t)
	tg := newLocalTarget(t)
	l := startListen(t, "--from", adminURL, "--token", relayToken, "--forward", tg.URL+"/webhooks", "--name", "alices-laptop")

	var providers []provider
	sent := map[string]string{} // body → provider
	var ids []string
	for _, p := range signingProviders {
		if p.name == "slack" {
			continue // not one of the relay token's hooks
		}
		providers = append(providers, p)
		id := newID()
		body := p.body(id) + "\n  " // trailing bytes a re-encoding would lose
		status, did, _, answer := pub.post(t, "/hooks/"+p.name+"?source=e2e", p.sign(p.secret, id, time.Now(), []byte(body)), body)
		if status != 200 {
			t.Fatalf("%s: %d %s", p.name, status, answer)
		}
		sent[body] = p.name
		ids = append(ids, did)
	}
	// A delivery of a hook the token does not see is not relayed.
	if status, _, _, _ := pub.post(t, "/hooks/other", jsonType, `{"secret":"not for the laptop"}`); status != 200 {
		t.Fatalf("other: %d", status)
	}
	got := tg.wait(t, len(providers))
	for i, r := range got {
		p := providers[i]
		if sent[string(r.body)] != p.name {
			t.Fatalf("request %d at the target has body %q, want %s's, byte for byte, in order", i, r.body, p.name)
		}
		if r.method != "POST" || r.path != "/webhooks" || r.query != "source=e2e" {
			t.Errorf("%s arrived as %s %s?%s, want POST /webhooks?source=e2e", p.name, r.method, r.path, r.query)
		}
		verifyAtTarget(t, p, r)
	}
	eventually(t, 20*time.Second, func() string { // a line is printed once the target answered
		if strings.Count(l.stdout.String(), "\n") < len(providers) {
			return "postbox listen printed " + l.stdout.String()
		}
		return ""
	})
	for _, line := range []string{"github", "stripe", "standard_webhooks", "204 No Content", "POST /webhooks"} {
		if !strings.Contains(l.stdout.String(), line) {
			t.Errorf("postbox listen printed\n%s\nwithout %q", l.stdout, line)
		}
	}
	// The console's delivery view (the API behind it) names the listener.
	var d struct {
		Relays []struct{ Listener string } `json:"relays"`
	}
	eventually(t, 20*time.Second, func() string {
		if adminGet(t, adminURL, relayAdminToken, "/api/deliveries/"+ids[0], &d); len(d.Relays) == 0 {
			return "the relay of " + ids[0] + " is not recorded"
		}
		return ""
	})
	if len(d.Relays) != 1 || d.Relays[0].Listener != "alices-laptop" {
		t.Errorf("relays of %s: %+v, want alices-laptop", ids[0], d.Relays)
	}
	if strings.Contains(l.stdout.String(), "other") || len(tg.wait(t, 0)) != len(providers) {
		t.Errorf("the other hook's delivery was relayed: %s", l.stdout)
	}
}

// adminGet GETs path from the admin API with token into v (200 only).
func adminGet(t *testing.T, base, token, path string, v any) {
	t.Helper()
	status, body := adminDo(t, base, token, "GET", path, "")
	if status != 200 {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		t.Fatal(err)
	}
}

func adminDo(t *testing.T, base, token, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// githubDelivery posts one GitHub-signed delivery and returns its body.
func githubDelivery(t *testing.T, pub *server, n int) string {
	t.Helper()
	p := signingProviders[0]
	id := newID()
	body := fmt.Sprintf(`{"n":%d,"after":"%s"}`, n, id)
	if status, _, _, answer := pub.post(t, "/hooks/github", p.sign(p.secret, id, time.Now(), []byte(body)), body); status != 200 {
		t.Fatalf("github %d: %d %s", n, status, answer)
	}
	return body
}

// TestListenMissesNothingAcrossRestarts kills the listener (SIGKILL) and
// the public postbox in turn while deliveries keep coming: once both are
// back, the target has every delivery exactly once, in order.
func TestListenMissesNothingAcrossRestarts(t *testing.T) {
	t.Parallel()
	pub, adminURL := relayPublic(t)
	tg := newLocalTarget(t)
	state := filepath.Join(t.TempDir(), "listen.state")
	args := []string{"--from", adminURL, "--token", relayToken, "--hook", "github", "--forward", tg.URL, "--state", state}
	l := startListen(t, args...)
	var want []string
	for i := range 3 {
		want = append(want, githubDelivery(t, pub, i))
	}
	tg.wait(t, 3)
	waitState(t, state, l, 3)
	l.kill()

	// While the listener is gone: three more.
	for i := 3; i < 6; i++ {
		want = append(want, githubDelivery(t, pub, i))
	}
	l = startListen(t, args...)
	tg.wait(t, 6)

	// The public side dies (kill -9) and comes back: the listener
	// reconnects by itself and resumes from its cursor.
	pub.kill()
	want = append(want, "") // placeholder: sent once the public side is back
	pub.restart()
	l.waitConnected(t, 2)
	want[6] = githubDelivery(t, pub, 6)
	// A last one: once it arrived, any duplicate would have come before.
	want = append(want, githubDelivery(t, pub, 7))
	got := tg.wait(t, len(want))
	if len(got) != len(want) {
		t.Fatalf("the target got %d requests, want %d", len(got), len(want))
	}
	for i := range want {
		if string(got[i].body) != want[i] {
			t.Errorf("request %d: %q, want %q (each delivery once, in order)", i, got[i].body, want[i])
		}
	}
}

// waitState waits until the listener's state file names the cursor of
// the n-th delivery it printed, i.e. until it wrote down its progress.
func waitState(t *testing.T, path string, l *listenProc, n int) {
	t.Helper()
	eventually(t, 20*time.Second, func() string {
		b, err := os.ReadFile(path)
		var st struct{ Cursor string }
		if err != nil || json.Unmarshal(b, &st) != nil || st.Cursor != strconv.Itoa(n) || strings.Count(l.stdout.String(), "\n") != n {
			return fmt.Sprintf("the state file (%s, %v) has not reached delivery %d", b, err, n)
		}
		return ""
	})
}

// TestRelayTokenChangesNothing: the relay token follows the feed and
// reads its hooks' deliveries (postbox listen --replay works with it), and
// every request that would change something is refused.
func TestRelayTokenChangesNothing(t *testing.T) {
	t.Parallel()
	pub, adminURL := relayPublic(t)
	body := githubDelivery(t, pub, 1)
	_, other, _, _ := pub.post(t, "/hooks/other", jsonType, `{"n":2}`)
	var list struct {
		Deliveries []struct{ ID string } `json:"deliveries"`
	}
	adminGet(t, adminURL, relayToken, "/api/deliveries?hook=github", &list)
	if len(list.Deliveries) != 1 {
		t.Fatalf("the relay token lists %+v, want the one github delivery", list)
	}
	id := list.Deliveries[0].ID
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/deliveries/" + id + "/replay", ""},
		{"POST", "/api/replay", `{"hook":"github"}`},
		{"POST", "/api/destinations/resume", `{"name":"*"}`},
		{"DELETE", "/api/deliveries/" + id, ""},
		{"PUT", "/api/deliveries/" + id, "{}"},
	} {
		if status, answer := adminDo(t, adminURL, relayToken, c.method, c.path, c.body); status != http.StatusForbidden {
			t.Errorf("%s %s with the relay token: %d %s, want 403", c.method, c.path, status, answer)
		}
	}
	for path, want := range map[string]int{"/api/deliveries/" + other: 404, "/api/hooks": 403, "/metrics": 403, "/api/relay?hook=other": 403} {
		if status, answer := adminDo(t, adminURL, relayToken, "GET", path, ""); status != want {
			t.Errorf("GET %s with the relay token: %d %s, want %d", path, status, answer, want)
		}
	}
	var d struct {
		Series int    `json:"series"`
		Body   string `json:"body_base64"`
	}
	adminGet(t, adminURL, relayAdminToken, "/api/deliveries/"+id, &d)
	if b, _ := base64.StdEncoding.DecodeString(d.Body); d.Series != 0 || string(b) != body {
		t.Errorf("after the refused requests: series %d, body %q; want 0 and the body as sent", d.Series, b)
	}

	// --replay reads the delivery (allowed) and sends it to the target.
	tg := newLocalTarget(t)
	res := runPostbox(t, t.TempDir(), nil, "listen", "--from", adminURL, "--token", relayToken, "--forward", tg.URL+"/in", "--replay", id)
	if res.code != 0 {
		t.Fatalf("listen --replay: exit %d: %s%s", res.code, res.stdout, res.stderr)
	}
	if got := tg.wait(t, 1); string(got[0].body) != body || got[0].path != "/in" {
		t.Errorf("the replay reached the target as %s %q, want /in and the body", got[0].path, got[0].body)
	}
	verifyAtTarget(t, signingProviders[0], tg.wait(t, 1)[0])
	// A wrong token stops postbox listen with a message, not a retry loop.
	res = runPostbox(t, t.TempDir(), nil, "listen", "--from", adminURL, "--token", "not-the-token-0123456789", "--forward", tg.URL)
	if res.code == 0 || !strings.Contains(res.stderr, "401") {
		t.Errorf("listen with a wrong token: exit %d, %s; want a failure naming 401", res.code, res.stderr)
	}
}

// TestListenThroughTLSProxyAndPrefix puts the public admin listener behind
// a TLS reverse proxy that serves it under /pb-admin/, with a certificate
// of a private CA, and the laptop behind an HTTPS proxy (CONNECT): postbox
// listen reaches the feed through both with --ca and HTTPS_PROXY, and the
// delivery verifies at the target.
func TestListenThroughTLSProxyAndPrefix(t *testing.T) {
	t.Parallel()
	pub, adminURL := relayPublic(t)
	upstream, _ := url.Parse(adminURL)
	rp := httputil.NewSingleHostReverseProxy(upstream)
	rp.FlushInterval = -1
	var prefixed atomic.Int32
	front := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/pb-admin/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		prefixed.Add(1)
		r.URL.Path, r.URL.RawPath = "/"+rest, ""
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: front.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	// The proxy tunnels only to the front, by the name its certificate
	// has (example.com), and never resolves it: the connection goes to
	// the loopback address.
	frontPort := port(front.Listener.Addr().String())
	var tunnels atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || r.Host != "example.com:"+frontPort {
			http.Error(w, "not through this proxy", http.StatusForbidden)
			return
		}
		up, err := net.Dial("tcp", front.Listener.Addr().String())
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			up.Close()
			return
		}
		tunnels.Add(1)
		conn.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		go func() { io.Copy(up, buf); up.Close() }()
		io.Copy(conn, up)
		conn.Close()
	}))
	t.Cleanup(proxy.Close)
	tg := newLocalTarget(t)
	startListenEnv(t, []string{"HTTPS_PROXY=" + proxy.URL}, "--from", "https://example.com:"+frontPort+"/pb-admin",
		"--ca", ca, "--token", relayToken, "--hook", "github", "--forward", tg.URL+"/in")
	body := githubDelivery(t, pub, 1)
	got := tg.wait(t, 1)
	if string(got[0].body) != body || got[0].path != "/in" {
		t.Fatalf("the target got %s %q, want /in and the body", got[0].path, got[0].body)
	}
	verifyAtTarget(t, signingProviders[0], got[0])
	if tunnels.Load() == 0 || prefixed.Load() == 0 {
		t.Errorf("%d tunnels through the proxy, %d requests under the prefix; want both", tunnels.Load(), prefixed.Load())
	}
}

// TestListenBurstArrivesOnce: deliveries accepted by many concurrent
// requests (whose commits interleave) each reach the target exactly once.
func TestListenBurstArrivesOnce(t *testing.T) {
	t.Parallel()
	pub, adminURL := relayPublic(t)
	tg := newLocalTarget(t)
	startListen(t, "--from", adminURL, "--token", relayToken, "--hook", "github", "--forward", tg.URL)
	const clients, each = 8, 10
	sent := make(chan string, clients*each)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				p := signingProviders[0]
				id := newID()
				body := fmt.Sprintf(`{"client":%d,"n":%d,"after":"%s"}`, c, i, id)
				status, _, _, answer := pub.post(t, "/hooks/github", p.sign(p.secret, id, time.Now(), []byte(body)), body)
				if status != 200 {
					t.Errorf("client %d: %d %s", c, status, answer)
					return
				}
				sent <- body
			}
		}()
	}
	wg.Wait()
	close(sent)
	want := map[string]bool{}
	for b := range sent {
		want[b] = true
	}
	tg.wait(t, len(want))
	// Once they all arrived, one more: a repeat would have come before it.
	last := githubDelivery(t, pub, -1)
	got := tg.wait(t, len(want)+1)
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.body)]++
	}
	for b := range want {
		if seen[b] != 1 {
			t.Errorf("%s arrived %d times, want once", b, seen[b])
		}
	}
	if len(got) != len(want)+1 || seen[last] != 1 {
		t.Errorf("the target got %d requests, want %d", len(got), len(want)+1)
	}
}
