package e2e

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rawConfig has short limits so that slow clients are cut off quickly.
const rawConfig = `
listen: 127.0.0.1:0
admin: off
data: ./data
limits:
  read_header_timeout: 1s
  read_timeout: 2s
  max_header_bytes: 4KiB
  max_body: 1KiB
hooks:
  - id: lamp
    path: /post
  - id: get
    path: /get
    methods: [GET]
`

// clte is a request with both Content-Length and Transfer-Encoding: the
// smuggling probe that must be refused.
const clte = "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"

// closer ends a keep-alive exchange: the server answers it and closes, so
// that reading every answer never waits on an idle connection.
const closer = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"

// TestMalformedRequests writes raw bytes to the server, reads every answer
// with a deadline and checks the server still answers /healthz after each.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	s := startServer(t, rawConfig)
	tests := []struct {
		name string
		send string
		// closeWrite half-closes the connection after send, as a client
		// that gave up would.
		closeWrite bool
		// want is one entry per answer, in order: a status ("400"), a
		// class ("4xx") or alternatives ("400|2xx").
		want []string
		// orClosed also accepts the server closing without any answer.
		orClosed bool
	}{
		{
			name: "Content-Length and Transfer-Encoding together are 400",
			send: clte,
			want: []string{"400"},
		},
		{
			name: "Transfer-Encoding before Content-Length in lower case is 400",
			send: "POST /post HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n0\r\n\r\n",
			want: []string{"400"},
		},
		{
			name: "Transfer-Encoding with a tab before its value and Content-Length are 400",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding:\tchunked\r\n\r\n0\r\n\r\n",
			want: []string{"400"},
		},
		{
			name: "a Content-Length that is not a number is 400",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\nabc",
			want: []string{"400"},
		},
		{
			name: "a negative Content-Length is 400",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
			want: []string{"400"},
		},
		{
			name: "a Content-Length with a sign is 400",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
			want: []string{"400"},
		},
		{
			name: "two different Content-Lengths are 400",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
			want: []string{"400"},
		},
		{
			name:       "headers cut off by the client are answered 400 or closed",
			send:       "POST /post HTTP/1.1\r\nHost: x\r\nContent-Le",
			closeWrite: true,
			want:       []string{"400"},
			orClosed:   true,
		},
		{
			name:       "a body shorter than its Content-Length is answered 400 or closed",
			send:       "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
			closeWrite: true,
			want:       []string{"400"},
			orClosed:   true,
		},
		{
			name: "a header over max_header_bytes is 431",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 16<<10) + "\r\nContent-Length: 0\r\n\r\n",
			want: []string{"431"},
		},
		{
			name: "a request line over max_header_bytes is 431 or 414",
			send: "GET /get?q=" + strings.Repeat("a", 16<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n",
			want: []string{"431|414"},
		},
		{
			name: "a request line that is not HTTP is 400",
			send: "HELLO THERE\r\n\r\n",
			want: []string{"400"},
		},
		{
			name: "a request line with a space in the target is 400",
			send: "GET /get now HTTP/1.1\r\nHost: x\r\n\r\n",
			want: []string{"400"},
		},
		{
			// RFC 9110 §15.6.6 names 505 for this; net/http sends it.
			name: "an HTTP version the server does not speak is 505, never a hang",
			send: "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n",
			want: []string{"505"},
		},
		{
			name: "a NUL byte in a header value is 400",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
			want: []string{"400"},
		},
		{
			name: "a NUL byte in a header name is 400",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nX-\x00: a\r\nContent-Length: 0\r\n\r\n",
			want: []string{"400"},
		},
		{
			name: "a space before a header's colon is 400",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length : 0\r\n\r\n",
			want: []string{"400"},
		},
		{
			name: "a request without Host is 400",
			send: "POST /post HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
			want: []string{"400"},
		},
		{
			// RFC 9112 §5.2: refuse with 400, or replace each fold by a space.
			name: "an obs-folded header is refused or unfolded, never hangs",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			want: []string{"400|2xx"},
		},
		{
			name: "bare LF line endings are accepted or refused, never hang",
			send: "POST /post HTTP/1.1\nHost: x\nContent-Length: 0\nConnection: close\n\n",
			want: []string{"400|2xx"},
		},
		{
			// RFC 9112 §6.1 names 501 for this; net/http sends it.
			name: "an unknown Transfer-Encoding is 501, never a hang",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
			want: []string{"501"},
		},
		{
			name: "a chunk size that is not hex is 400",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
			want: []string{"400"},
		},
		{
			name: "a chunked body over max_body is 413",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(strings.Repeat("a", 1500), 500),
			want: []string{"413"},
		},
		{
			name: "a Content-Length over max_body with Expect: 100-continue is 413 at once",
			send: "POST /post HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5000\r\n\r\n",
			want: []string{"413"},
		},
		{
			name: "a path that needs cleaning is 404, not a redirect",
			send: "POST /get/../post HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}" + closer,
			want: []string{"404", "200"},
		},
		{
			// net/http answers a head not received in time with 400.
			name:     "a client that sends half a header and stalls is cut off with a 4xx or closed",
			send:     "POST /post HTTP/1.1\r\nHost: x\r\nX-Sl",
			want:     []string{"400|408"},
			orClosed: true,
		},
		{
			name:     "a client that stalls in the body is cut off with 408 or closed",
			send:     "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
			want:     []string{"408"},
			orClosed: true,
		},
		{
			name: "pipelined requests are answered in order",
			send: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nPOST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}" + closer,
			want: []string{"200", "200", "200"},
		},
		{
			name: "a CL+TE request pipelined after a good request to another path is 400",
			send: "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + clte + closer,
			want: []string{"200", "400"},
		},
		{
			name: "a CL+TE request followed by a good request to the same path is 400",
			send: clte + "POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
			want: []string{"400"},
		},
		{
			name: "a CL+TE request after a large unread body on the same connection is 400",
			send: "POST /get HTTP/1.1\r\nHost: x\r\nContent-Length: 200000\r\n\r\n" + strings.Repeat("z", 200000) + clte + closer,
			want: []string{"405", "400"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, closed := exchange(t, s.addr, tt.send, tt.closeWrite)
			t.Logf("answers %v, closed %v", got, closed)
			switch {
			case len(got) == 0 && tt.orClosed && closed:
			case len(got) == 0 && !closed:
				t.Errorf("no answer within the deadline: the server hung")
			case !statusesMatch(got, tt.want):
				t.Errorf("answers %v, want %v", got, tt.want)
			}
			if resp, err := s.client.Get(s.url + "/healthz"); err != nil {
				t.Errorf("healthz after the request: %v", err)
			} else if resp.Body.Close(); resp.StatusCode != 200 {
				t.Errorf("healthz after the request: %d", resp.StatusCode)
			}
		})
	}
}

// exchange writes send on a new connection and reads every answer until
// the server closes it. closed says whether it ended by closing (rather
// than by the read deadline, which means the server hung).
func exchange(t *testing.T, addr, send string, closeWrite bool) (statuses []int, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(15 * time.Second))
	// Write in the background: the server may answer and close before it
	// has read everything.
	go func() {
		io.WriteString(c, send)
		if closeWrite {
			c.(*net.TCPConn).CloseWrite()
		}
	}()
	br := bufio.NewReader(c)
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return statuses, !errors.Is(err, os.ErrDeadlineExceeded)
		}
		statuses = append(statuses, resp.StatusCode)
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.Close {
			return statuses, !errors.Is(err, os.ErrDeadlineExceeded)
		}
	}
}

func statusesMatch(got []int, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i, w := range want {
		ok := false
		for _, alt := range strings.Split(w, "|") {
			code := strconv.Itoa(got[i])
			ok = ok || alt == code || strings.HasSuffix(alt, "xx") && alt[0] == code[0]
		}
		if !ok {
			return false
		}
	}
	return true
}

// chunked encodes body in chunks of n bytes.
func chunked(body string, n int) string {
	var b strings.Builder
	for len(body) > 0 {
		k := min(n, len(body))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", k, body[:k])
		body = body[k:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}
