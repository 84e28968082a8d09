package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestForwardRefusesWhatLeavesTheTarget feeds hostile values of a relay
// event (a malicious public postbox) to the forwarder: none may take the
// request to another host, or above the --forward path.
func TestForwardRefusesWhatLeavesTheTarget(t *testing.T) {
	target, _ := url.Parse("http://127.0.0.1:3000/webhooks")
	f := &forwarder{target: target}
	tests := []struct {
		name           string
		d              relayedDelivery
		refused        bool
		path, rawQuery string
	}{
		{"a plain suffix goes below the target path", relayedDelivery{Method: "POST", Suffix: "/github"}, false, "/webhooks/github", ""},
		{"no suffix is the target itself", relayedDelivery{Method: "POST"}, false, "/webhooks", ""},
		{"a query is kept, re-encoded", relayedDelivery{Method: "POST", Query: "a=1&b=%26"}, false, "/webhooks", "a=1&b=%26"},
		{"a double slash stays a path on the target", relayedDelivery{Method: "POST", Suffix: "//evil.example/x"}, false, "/webhooks//evil.example/x", ""},
		{"dot-dot climbs out", relayedDelivery{Method: "POST", Suffix: "/../admin"}, true, "", ""},
		{"a lone dot-dot climbs out", relayedDelivery{Method: "POST", Suffix: "/a/.."}, true, "", ""},
		{"a suffix without a slash could join the host", relayedDelivery{Method: "POST", Suffix: "@evil.example"}, true, "", ""},
		{"a backslash", relayedDelivery{Method: "POST", Suffix: "/\\evil.example"}, true, "", ""},
		{"a question mark in the suffix", relayedDelivery{Method: "POST", Suffix: "/a?admin=1"}, true, "", ""},
		{"a control character", relayedDelivery{Method: "POST", Suffix: "/a\r\nHost: evil"}, true, "", ""},
		{"a method with a space", relayedDelivery{Method: "GET http://evil.example/ HTTP/1.1"}, true, "", ""},
		{"a lower-case method", relayedDelivery{Method: "post"}, true, "", ""},
		{"a query that is no query", relayedDelivery{Method: "POST", Query: "a=%zz"}, true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := f.request(context.Background(), &tt.d)
			if tt.refused {
				if err == nil {
					t.Fatalf("sent to %s, want refused", req.URL)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.URL.Host != "127.0.0.1:3000" || req.URL.Path != tt.path || req.URL.RawQuery != tt.rawQuery {
				t.Errorf("sent to %s (path %q, query %q), want 127.0.0.1:3000 %q %q", req.URL, req.URL.Path, req.URL.RawQuery, tt.path, tt.rawQuery)
			}
		})
	}
}

// TestForwardKeepsHeadersAndBody: the target gets the method, the headers
// less hop-by-hop ones and those Connection names, and the body byte for
// byte; a line per delivery is printed with hostile text escaped.
func TestForwardKeepsHeadersAndBody(t *testing.T) {
	type got struct {
		method string
		header http.Header
		body   []byte
		host   string
	}
	gotc := make(chan got, 1)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		gotc <- got{r.Method, r.Header.Clone(), b, r.Host}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer ts.Close()
	target, _ := url.Parse(ts.URL + "/hook")
	var out bytes.Buffer
	f := &forwarder{target: target, http: ts.Client(), out: &out}
	body := []byte("{\"a\":\"\x00\xff\"}\r\n")
	d := &relayedDelivery{ID: "01ID", Hook: "gh\x1b[31m", Method: "PUT", Body: body, Header: http.Header{
		"X-Hub-Signature-256": {"sha256=abc"}, "Content-Type": {"application/json"}, "Host": {"public.example"},
		"Content-Length": {"999"}, "Transfer-Encoding": {"chunked"}, "Connection": {"keep-alive, X-Private"},
		"X-Private": {"p"}, "Keep-Alive": {"5"}, "Upgrade": {"h2c"}, "Proxy-Authorization": {"Basic x"},
		"X-Multi": {"1", "2"}}}
	if !f.send(context.Background(), d) {
		t.Fatalf("send failed: %s", out.String())
	}
	g := <-gotc
	if g.method != "PUT" || !bytes.Equal(g.body, body) || g.host != target.Host {
		t.Errorf("target got %s %q on host %s, want PUT, the body byte for byte, host %s", g.method, g.body, g.host, target.Host)
	}
	if g.header.Get("X-Hub-Signature-256") != "sha256=abc" || len(g.header.Values("X-Multi")) != 2 || g.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers lost: %v", g.header)
	}
	for _, h := range []string{"X-Private", "Keep-Alive", "Upgrade", "Proxy-Authorization", "Transfer-Encoding"} {
		if g.header.Get(h) != "" {
			t.Errorf("header %s was relayed: %v", h, g.header)
		}
	}
	if s := out.String(); !strings.Contains(s, `gh\x1b[31m`) || strings.Contains(s, "\x1b") || !strings.Contains(s, "202 Accepted") || !strings.Contains(s, "PUT /hook") {
		t.Errorf("printed %q, want the hook escaped, the status and the path", s)
	}
}

// TestForwardRetriesAndGoesOn: a target that fails gets --retry more
// tries; the failure is printed and send reports it.
func TestForwardRetriesAndGoesOn(t *testing.T) {
	calls := 0
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer ts.Close()
	target, _ := url.Parse(ts.URL)
	var out bytes.Buffer
	f := &forwarder{target: target, http: ts.Client(), out: &out, retry: 1}
	if f.send(context.Background(), &relayedDelivery{ID: "x", Hook: "h", Method: "POST"}) {
		t.Fatal("send reported success for a 502")
	}
	if calls != 2 || !strings.Contains(out.String(), "502 Bad Gateway") || !strings.Contains(out.String(), "(2 tries)") {
		t.Errorf("%d calls, printed %q; want 2 and the 502", calls, out.String())
	}
	ts.Close()
	out.Reset()
	f.retry = 0
	if f.send(context.Background(), &relayedDelivery{ID: "y", Hook: "h", Method: "POST"}) || !strings.Contains(out.String(), "error: ") {
		t.Errorf("a target that is gone: printed %q, want an error line", out.String())
	}
}

func TestSSEReader(t *testing.T) {
	in := "retry: 2000\r\n: comment\r\nevent: ready\r\ndata: {}\r\n\r\nid: 7\nevent: delivery\ndata: a\ndata: b\n\n: keep-alive\n\nevent: delivery\ndata: c\n\n"
	r := newSSEReader(strings.NewReader(in), 1<<10)
	want := []sseEvent{{"", "ready", "{}"}, {"7", "delivery", "a\nb"}, {"7", "delivery", "c"}}
	for _, w := range want {
		ev, err := r.next()
		if err != nil || ev != w {
			t.Fatalf("event %+v (%v), want %+v", ev, err, w)
		}
	}
	if _, err := r.next(); err != io.EOF {
		t.Errorf("after the last event: %v, want EOF", err)
	}
	big := newSSEReader(strings.NewReader("data: "+strings.Repeat("x", 200<<10)+"\n\n"), 100<<10)
	if _, err := big.next(); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("an event over the cap: %v, want refused", err)
	}
}

// TestSlowTargetIsNotAnIdleFeed: while the target takes longer than the
// feed's idle limit to answer, the feed is not given up on and the
// delivery is not cut short (then sent again, forever, to a slow app).
func TestSlowTargetIsNotAnIdleFeed(t *testing.T) {
	feed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "event: ready\ndata: {}\n\nid: 1\nevent: delivery\ndata: {\"id\":\"d1\",\"hook\":\"h\",\"method\":\"POST\"}\n\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer feed.Close()
	slow := make(chan struct{})
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-slow // released once the idle limit has passed several times over
	}))
	defer target.Close()
	from, _ := url.Parse(feed.URL)
	to, _ := url.Parse(target.URL)
	var out bytes.Buffer
	o := &listenOptions{from: from, forward: to, token: "t", idle: 20 * time.Millisecond}
	l := &listener{o: o, client: feed.Client(), stderr: io.Discard,
		fwd: &forwarder{target: to, http: target.Client(), out: &out}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := l.follow(ctx); done <- err }()
	time.Sleep(200 * time.Millisecond) // ten idle limits with the target still working
	close(slow)
	deadline := time.Now().Add(10 * time.Second)
	for l.cursorSeen() != "1" && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if !strings.Contains(out.String(), "200 OK") {
		t.Errorf("printed %q, want the slow target's 200", out.String())
	}
}
