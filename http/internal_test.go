package http

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// verdicts frames raw as it arrives in pieces of size and returns the
// verdict on each request head, "ok" or "refused".
func verdicts(raw string, size int) []string {
	c := &rawConn{}
	for b := []byte(raw); len(b) > 0; {
		k := min(size, len(b))
		c.feed(b[:k])
		b = b[k:]
	}
	var out []string
	for range c.verdicts {
		if c.next() != nil {
			out = append(out, "refused")
		} else {
			out = append(out, "ok")
		}
	}
	return out
}

func TestFraming(t *testing.T) {
	tests := []struct {
		name, raw string
		want      []string
	}{
		{"a plain request passes", "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", []string{"ok"}},
		{"chunked alone passes", "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []string{"ok"}},
		{"Content-Length with Transfer-Encoding is refused", "POST /p HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []string{"refused"}},
		{"header names are case-insensitive", "POST /p HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n", []string{"refused"}},
		{"headers quoted in a body do not count", "POST /p HTTP/1.1\r\nContent-Length: 57\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: x\r\n\r\n" +
			"GET /q HTTP/1.1\r\n\r\n", []string{"ok", "ok"}},
		{"pipelined requests get their own verdicts", "GET /a HTTP/1.1\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
			[]string{"ok", "refused", "ok"}},
		{"a chunked body with extensions and trailers is framed", "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
			[]string{"ok", "refused"}},
		{"bare LF line endings are framed", "POST /p HTTP/1.1\nContent-Length: 2\nTransfer-Encoding: chunked\n\n", []string{"refused"}},
	}
	for _, tt := range tests {
		for _, size := range []int{1, 3, 7, 1 << 20} {
			t.Run(fmt.Sprintf("%s/read %d bytes at a time", tt.name, size), func(t *testing.T) {
				if got := verdicts(tt.raw, size); strings.Join(got, " ") != strings.Join(tt.want, " ") {
					t.Errorf("verdicts %v, want %v", got, tt.want)
				}
			})
		}
	}
}

func TestALineTooLongLosesTheFramingSafely(t *testing.T) {
	c := &rawConn{}
	c.feed([]byte("POST /p HTTP/1.1\r\nX: " + strings.Repeat("a", maxLine+1)))
	c.feed([]byte("\r\n\r\n"))
	if len(c.verdicts) != 0 || c.state != lost {
		t.Errorf("state %d verdicts %d: an oversize line must stop the framing (net/http refuses it with 431)", c.state, len(c.verdicts))
	}
}

func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote string
		header       http.Header
		trusted      []netip.Prefix
		want         string
	}{
		{"no trusted proxies: headers are ignored", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, nil, "10.0.0.1:1"},
		{"an untrusted peer's header is ignored", "8.8.8.8:1", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, trusted, "8.8.8.8:1"},
		{"a trusted peer names the client", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"1.2.3.4"}}, trusted, "1.2.3.4:0"},
		{"the right-most untrusted hop wins over spoofed ones", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"6.6.6.6, 1.2.3.4, 10.0.0.2"}}, trusted, "1.2.3.4:0"},
		{"Forwarded for= is read too", "10.0.0.1:1", http.Header{"Forwarded": {`for="[2001:db8::1]:443";proto=https`}}, trusted, "[2001:db8::1]:0"},
		{"a malformed chain is not believed", "10.0.0.1:1", http.Header{"X-Forwarded-For": {"nonsense"}}, trusted, "10.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tt.remote, Header: tt.header}
			if got := clientAddr(r, tt.trusted); got != tt.want {
				t.Errorf("clientAddr = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzFraming: any bytes, read in any pieces, frame the same way and never
// panic.
func FuzzFraming(f *testing.F) {
	f.Add([]byte("POST /p HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), uint8(3))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\nPOST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"), uint8(1))
	f.Fuzz(func(t *testing.T, raw []byte, size uint8) {
		whole := verdicts(string(raw), len(raw)+1)
		pieces := verdicts(string(raw), int(size%16)+1)
		if strings.Join(whole, " ") != strings.Join(pieces, " ") {
			t.Fatalf("read whole: %v; read in pieces of %d: %v", whole, size%16+1, pieces)
		}
	})
}
