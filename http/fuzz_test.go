package http

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postbox/postbox/config"
	"github.com/postbox/postbox/sqlite"
)

// fuzzHooks covers the handler's paths: authentication (token, GitHub's
// HMAC), a condition, a template answer, a GET hook, a wildcard, dedup, a
// small max_body, accept:, on_unmatched, and a hook with an action.
const fuzzHooks = `
limits: {max_inflight: 1000}
hooks:
  - id: lamp
    path: /post
    auth: {token: {header: X-Token, secret: s3cret}}
    response: {status: 200, body: SUCCESS}
  - id: gh
    path: /gh/{repo}
    auth: {github: {secret: s3cret}}
  - id: cond
    path: /cond
    when: payload.n > 1
  - id: echo
    path: /echo
    response: {body: "{{ json .Payload }} {{ .Header.Get \"X-A\" }} {{ .Query.Get \"q\" }}"}
  - id: get
    path: /get/{rest...}
    methods: [GET]
    response: {body: "{{ .Path.rest }}"}
  - id: dedup
    path: /dedup
    dedup: {key: "{{ .Header.Get \"X-Id\" }}"}
  - id: small
    path: /small
    max_body: 64
  - id: typed
    path: /typed
    accept: [application/json]
  - id: first
    path: /shared
    when: payload.kind == "a"
  - id: second
    path: /shared
    when: payload.kind == "b"
    on_unmatched: accept
  - id: work
    path: /work
    actions:
      - exec: {command: /bin/true, args: ["{{ .Payload.x }}"]}
`

// newFuzzServer is the ingress on fuzzHooks over a real SQLite store.
func newFuzzServer(f *testing.F) *Server {
	f.Helper()
	cfg, err := config.Parse("fuzz.yaml", []byte(fuzzHooks), func(string) string { return "" })
	if err != nil {
		f.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "postbox.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	return NewServer(Options{Store: db, Hooks: cfg.Hooks, Limits: Limits{
		MaxInflight:       cfg.Limits.MaxInflight,
		MaxHeaderBytes:    cfg.Limits.MaxHeaderBytes,
		ReadHeaderTimeout: 2 * time.Second,
		ReadTimeout:       2 * time.Second,
	}})
}

// FuzzIngress feeds arbitrary requests (method, target, header lines,
// body) through the real handler on a real SQLite store: a request that
// net/http would parse must be answered 2xx, 4xx or 503 — never a panic, a
// 5xx of another kind, or a redirect — and one that arrived with
// Transfer-Encoding is answered with Connection: close.
func FuzzIngress(f *testing.F) {
	srv := newFuzzServer(f)
	f.Add("POST", "/post", "X-Token: s3cret\r\nContent-Type: application/json\r\n", []byte(`{"state":"on"}`))
	f.Add("POST", "/gh/repo", "X-Hub-Signature-256: sha256=00\r\nX-GitHub-Delivery: 1\r\n", []byte(`{}`))
	f.Add("POST", "/cond", "Content-Type: application/json\r\n", []byte(`{"n":1e999999}`))
	f.Add("POST", "/echo?q=1", "X-A: b\r\nContent-Type: application/x-www-form-urlencoded\r\n", []byte("a=1&a=2"))
	f.Add("POST", "/echo", "Content-Type: multipart/form-data; boundary=b\r\n", []byte("--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--b--\r\n"))
	f.Add("GET", "/get/a/%2e%2e/b", "", []byte(nil))
	f.Add("HEAD", "/get/x", "", []byte(nil))
	f.Add("POST", "/dedup", "X-Id: 7\r\n", []byte("x"))
	f.Add("POST", "/small", "Transfer-Encoding: chunked\r\n", []byte("5\r\nhello\r\n0\r\n\r\n"))
	f.Add("POST", "/typed", "Content-Type: text/plain\r\nContent-Encoding: gzip\r\n", []byte("x"))
	f.Add("POST", "/shared", "Content-Type: application/json\r\n", []byte(`{"kind":"c"}`))
	f.Add("POST", "/work", "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n", []byte("0\r\n\r\n"))
	f.Add("PUT", "/post/../post", "", []byte(`[[[[`))
	f.Add("GET", "/healthz", "", []byte(nil))
	f.Add("OPTIONS", "*", "Transfer-Encoding: chunked\r\n", []byte("0\r\n\r\n"))
	f.Add("POST", "/post", "X-Token: wrong\r\nCookie: a=1; postbox_admin=secret\r\n", []byte(`{}`))
	f.Fuzz(func(t *testing.T, method, target, header string, body []byte) {
		raw := rawRequest(method, target, header, body)
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // net/http refuses it before any handler runs
		}
		req.RemoteAddr = "192.0.2.1:4321"
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if st := rec.Code; st/100 != 2 && st/100 != 4 && st != http.StatusServiceUnavailable {
			t.Fatalf("%q answered %d %q, want 2xx, 4xx or 503", raw, st, rec.Body.String())
		}
		if len(req.TransferEncoding) > 0 && rec.Header().Get("Connection") != "close" {
			t.Fatalf("%q arrived with Transfer-Encoding and was answered without Connection: close", raw)
		}
	})
}

// FuzzFraming writes arbitrary bytes, in pieces of any size, on one
// loopback connection to the real server and reads until the server closes
// it. The framing is net/http's alone; what postbox adds is checked on the
// server's side: no request is served on a connection after one that
// arrived with Transfer-Encoding or over HTTP/1.0 (such a request could hide
// a smuggled one from a proxy that frames it differently), and the answer
// to that request said Connection: close.
func FuzzFraming(f *testing.F) {
	srv := newFuzzServer(f)
	var mu sync.Mutex
	conns := map[string]*connLog{} // by the client's address
	srv.srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		l := &connLog{}
		mu.Lock()
		conns[c.RemoteAddr().String()] = l
		mu.Unlock()
		return context.WithValue(ctx, connLogKey{}, l)
	}
	inner := srv.srv.Handler
	srv.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := r.Context().Value(connLogKey{}).(*connLog)
		l.before(r)
		inner.ServeHTTP(w, r)
		l.after(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go srv.Serve(ln)
	f.Cleanup(func() { srv.Shutdown(context.Background()) })

	for _, seed := range framingSeeds {
		f.Add([]byte(seed), uint8(0))
		f.Add([]byte(seed), uint8(3))
		f.Add([]byte(seed), uint8(255))
	}
	f.Fuzz(func(t *testing.T, raw []byte, size uint8) {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		written := make(chan struct{})
		go func() {
			defer close(written)
			for b := raw; len(b) > 0; {
				k := min(len(b), int(size)+1)
				if _, err := c.Write(b[:k]); err != nil {
					return // the server closed: what follows is unread
				}
				b = b[k:]
			}
			c.(*net.TCPConn).CloseWrite()
		}()
		_, err = io.Copy(io.Discard, c)
		<-written
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%.300q: the server neither answered nor closed within 20s", raw)
		}
		mu.Lock()
		l := conns[c.LocalAddr().String()]
		delete(conns, c.LocalAddr().String())
		mu.Unlock()
		if l == nil {
			return // closed before it was accepted
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, p := range l.problems {
			t.Errorf("%.300q: %s", raw, p)
		}
	})
}

// framingSeeds are the connections that once got past a check of the
// framing beside net/http's, and their neighbours.
var framingSeeds = []string{
	// Content-Length with Transfer-Encoding, a request smuggled behind it.
	"POST /post HTTP/1.1\r\nHost: x\r\nX-Token: s3cret\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
	// OPTIONS *, once answered by net/http without the handler, shifted
	// a queue of verdicts kept per connection.
	"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" +
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
	"OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
	// A header line longer than the old check's 64 KiB line buffer.
	"POST /echo HTTP/1.1\r\nHost: x\r\nX-Long: " + strings.Repeat("a", 65<<10) + "\r\n\r\n" +
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
	// A body quoting a request head, pipelined requests, HTTP/1.0.
	"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 57\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: x\r\n\r\n" +
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /echo HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	"POST /echo HTTP/1.1\nContent-Length: 2\nTransfer-Encoding: chunked\n\n0\n\nGET /healthz HTTP/1.1\nHost: x\n\n",
}

// connLog is what the server did on one connection, for FuzzFraming.
type connLog struct {
	mu       sync.Mutex
	closing  string // the request after which nothing more may be served
	problems []string
}

type connLogKey struct{}

func (l *connLog) before(r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closing != "" {
		l.problems = append(l.problems, fmt.Sprintf("%s %s was served after %s on the same connection", r.Method, r.RequestURI, l.closing))
	}
}

func (l *connLog) after(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var why string
	switch {
	case len(r.TransferEncoding) > 0:
		why = "with Transfer-Encoding"
	case r.ProtoMajor == 1 && r.ProtoMinor == 0:
		why = "over HTTP/1.0"
	default:
		return
	}
	l.closing = fmt.Sprintf("%s %s %s", r.Method, r.RequestURI, why)
	if w.Header().Get("Connection") != "close" {
		l.problems = append(l.problems, l.closing+" was answered without Connection: close")
	}
}

// rawRequest builds an HTTP/1.1 request; it adds Host, and Content-Length
// unless header frames the body itself.
func rawRequest(method, target, header string, body []byte) []byte {
	var b bytes.Buffer
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: fuzz\r\n")
	if header != "" {
		b.WriteString(header)
		if !strings.HasSuffix(header, "\n") {
			b.WriteString("\r\n")
		}
	}
	lower := strings.ToLower(header)
	if !strings.Contains(lower, "content-length") && !strings.Contains(lower, "transfer-encoding") {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}
