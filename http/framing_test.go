package http_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	phttp "github.com/postbox/postbox/http"
)

// rawAnswer is one answer read off a raw connection.
type rawAnswer struct {
	status int
	close  bool // it said Connection: close
	body   string
}

// exchangeRaw writes raw on a new connection, without ever closing its
// side, and reads answers until the server closes the connection. closed
// is false when the server kept it open past the deadline.
func exchangeRaw(t *testing.T, url string, raw string) (answers []rawAnswer, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(c, raw) // the server may close before it read everything
	br := bufio.NewReader(c)
	for {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			return answers, !errors.Is(err, os.ErrDeadlineExceeded)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		answers = append(answers, rawAnswer{res.StatusCode, res.Close, string(b)})
	}
}

// smuggled is a request hidden in the chunked body's place for a proxy
// that frames by Content-Length: it must never be served.
const smuggled = "POST /hooks/lamp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n" + `{"smuggled":true}`

// clte is a request with Content-Length and Transfer-Encoding whose
// chunked body is {"state":"on"}; a proxy framing it by Content-Length
// would take its last chunk and smuggled as the next request.
const clte = "POST /hooks/lamp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
	"e\r\n" + `{"state":"on"}` + "\r\n0\r\n\r\n"

// TestTransferEncodingClosesTheConnection: a request that arrived with
// Transfer-Encoding is processed by its chunked body, as net/http frames
// it, and answered with Connection: close; the connection then really
// closes, so that nothing pipelined behind it is served or stored. The
// connections that got past the framing check postbox once kept beside
// net/http's (OPTIONS * shifting its verdicts, a header line longer than
// its 64 KiB buffer) are among the cases.
func TestTransferEncodingClosesTheConnection(t *testing.T) {
	url, db := serveWith(t, `
  - id: lamp
    path: /hooks/lamp
`, phttp.Limits{MaxHeaderBytes: 128 << 10})
	long := "POST /hooks/lamp HTTP/1.1\r\nHost: x\r\nX-Long: " + strings.Repeat("a", 65<<10) +
		"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
	tests := []struct {
		name   string
		raw    string
		want   []int  // the answers' statuses
		stored int    // deliveries stored by the case
		last   string // the body of the last one stored
	}{
		{"Content-Length with Transfer-Encoding is taken by its chunked body",
			clte + smuggled, []int{200}, 1, `{"state":"on"}`},
		{"Transfer-Encoding alone closes too",
			strings.Replace(clte, "Content-Length: 4\r\n", "", 1) + smuggled, []int{200}, 1, `{"state":"on"}`},
		{"OPTIONS * before it shifts nothing",
			"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n" + clte + smuggled, []int{200, 200}, 1, `{"state":"on"}`},
		{"OPTIONS * with Transfer-Encoding closes too",
			"OPTIONS * HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled, []int{200}, 0, ""},
		{"a header line over 64 KiB before it changes nothing",
			long + clte + smuggled, []int{200, 200}, 2, `{"state":"on"}`},
		{"a refused request with Transfer-Encoding closes too",
			strings.Replace(clte, "/hooks/lamp", "/nowhere", 1) + smuggled, []int{404}, 0, ""},
		{"HTTP/1.0 with Transfer-Encoding and keep-alive closes",
			"POST /hooks/lamp HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Type: application/json\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}" + smuggled,
			[]int{200}, 1, "{}"},
	}
	before := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			answers, closed := exchangeRaw(t, url, tt.raw)
			var got []int
			for _, a := range answers {
				got = append(got, a.status)
			}
			if !equalInts(got, tt.want) {
				t.Errorf("answers %v, want %v", got, tt.want)
			}
			if !closed {
				t.Errorf("the connection stayed open after the answers")
			}
			if len(answers) > 0 && !answers[len(answers)-1].close {
				t.Errorf("the last answer did not say Connection: close")
			}
			stored, err := db.Deliveries(t.Context(), postboxFilter())
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range stored[:len(stored)-before] {
				if d, err = db.Delivery(t.Context(), d.ID); err != nil {
					t.Fatal(err)
				}
				if strings.Contains(string(d.Body), "smuggled") {
					t.Errorf("the smuggled request was stored as %s", d.ID)
				}
				if i == 0 && string(d.Body) != tt.last {
					t.Errorf("stored the body %q, want %q", d.Body, tt.last)
				}
			}
			if n := len(stored) - before; n != tt.stored {
				t.Errorf("%d deliveries stored, want %d", n, tt.stored)
			}
			before = len(stored)
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
