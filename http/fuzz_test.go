package http

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

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

// FuzzIngress feeds arbitrary requests (method, target, header lines,
// body) through the real handler on a real SQLite store: a request that
// net/http would parse must be answered 2xx, 4xx or 503 — never a panic, a
// 5xx of another kind, or a redirect. The raw bytes go along as the
// connection's window, so the Content-Length with Transfer-Encoding check
// runs too.
func FuzzIngress(f *testing.F) {
	cfg, err := config.Parse("fuzz.yaml", []byte(fuzzHooks), func(string) string { return "" })
	if err != nil {
		f.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(f.TempDir(), "postbox.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	srv := NewServer(Options{Store: db, Hooks: cfg.Hooks, Limits: Limits{MaxInflight: cfg.Limits.MaxInflight}})

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
	f.Fuzz(func(t *testing.T, method, target, header string, body []byte) {
		raw := rawRequest(method, target, header, body)
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(raw)))
		if err != nil {
			return // net/http refuses it before any handler runs
		}
		req.RemoteAddr = "192.0.2.1:4321"
		rc := &rawConn{}
		rc.feed(raw)
		req = req.WithContext(context.WithValue(req.Context(), rawConnKey{}, rc))
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if st := rec.Code; st/100 != 2 && st/100 != 4 && st != http.StatusServiceUnavailable {
			t.Fatalf("%q answered %d %q, want 2xx, 4xx or 503", raw, st, rec.Body.String())
		}
	})
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
