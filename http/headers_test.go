package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/config"
	phttp "github.com/postbox/postbox/http"
	"github.com/postbox/postbox/sqlite"
)

// events records the requests the server reports, as the admin's
// rejections ring does.
type events struct {
	postbox.NopObserver
	mu  sync.Mutex
	got []postbox.RequestEvent
}

func (e *events) Request(ev postbox.RequestEvent) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.got = append(e.got, ev)
}

func (e *events) all() []postbox.RequestEvent {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]postbox.RequestEvent(nil), e.got...)
}

// rawRequest sends head (request line and headers, without the blank line)
// and returns the status line, the Content-Type and the body.
func rawRequest(t *testing.T, addr, head string) (status, ctype, body string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, head+"Content-Length: 0\r\nConnection: close\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.Status, res.Header.Get("Content-Type"), string(b)
}

// TestHeadersOverTheLimitAreRefusedLikeAnyRequest: a request whose header
// block is over max_header_bytes gets a JSON 431 naming the limit, and is
// recorded with the other rejections; one just under the limit is served.
func TestHeadersOverTheLimitAreRefusedLikeAnyRequest(t *testing.T) {
	cfg, err := config.Parse("test.yaml", []byte("hooks:\n  - {id: lamp, path: /lamp}\n"), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	obs := &events{}
	const limit = 4096
	srv := phttp.NewServer(phttp.Options{Store: db, Hooks: cfg.Hooks, Observer: obs,
		Limits: phttp.Limits{MaxHeaderBytes: limit}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Shutdown(context.Background()) })

	// A header block of exactly n bytes, as headerBlockSize counts them.
	head := func(n int) string {
		line := "POST /lamp HTTP/1.1\r\nHost: x\r\n"
		fixed := len(line) + len("Content-Length: 0\r\nConnection: close\r\n") + len("X-Pad: \r\n") + 2
		return line + "X-Pad: " + strings.Repeat("a", n-fixed) + "\r\n"
	}

	status, ctype, body := rawRequest(t, ln.Addr().String(), head(limit+1))
	if status != "431 Request Header Fields Too Large" || ctype != "application/json" {
		t.Fatalf("over the limit: %s %s %q; want a JSON 431", status, ctype, body)
	}
	var answer struct {
		Error  string `json:"error"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &answer); err != nil || answer.Status != 431 ||
		!strings.Contains(answer.Error, fmt.Sprint(limit)) || !strings.Contains(answer.Error, "max_header_bytes") {
		t.Errorf("body %q: want status 431 and an error naming max_header_bytes and %d", body, limit)
	}
	evs := obs.all()
	if len(evs) != 1 || evs[0].Status != 431 || evs[0].Path != "/lamp" || evs[0].Reason == "" {
		t.Errorf("rejections recorded: %+v; want one 431 for /lamp with its reason", evs)
	}

	// At the limit, the request reaches its hook and is accepted.
	if status, _, body := rawRequest(t, ln.Addr().String(), head(limit)); !strings.HasPrefix(status, "2") {
		t.Errorf("at the limit: %s %q; want it accepted", status, body)
	}
}
