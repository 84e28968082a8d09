package http

import (
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
)

func TestCheckHead(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		bad  bool
	}{
		{"a plain request passes", "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx", false},
		{"chunked alone passes", "POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"Content-Length with Transfer-Encoding is refused", "POST /p HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"header names are case-insensitive", "POST /p HTTP/1.1\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n", true},
		{"a request line that lost its first byte is still found", "OST /p HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"headers in the body do not count", "POST /p HTTP/1.1\r\nContent-Length: 30\r\n\r\nTransfer-Encoding: chunked\r\n", false},
		{"the first unhandled head is checked, not a later pipelined one", "POST /p HTTP/1.1\r\nContent-Length: 0\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &rawConn{buf: []byte(tt.raw)}
			err := checkHead(c.head("/p"))
			if (err != nil) != tt.bad {
				t.Errorf("checkHead = %v, want error %v", err, tt.bad)
			}
		})
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

func TestHeadsOfPipelinedRequestsAreFoundInTurn(t *testing.T) {
	c := &rawConn{}
	c.buf = []byte("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nPOST /p HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	if err := checkHead(c.head("/healthz")); err != nil {
		t.Fatalf("first: %v", err)
	}
	if err := checkHead(c.head("/p")); err == nil {
		t.Error("the pipelined CL+TE request was not found")
	}
}

func TestTheWindowKeepsTheLatestHeadAfterALargeBody(t *testing.T) {
	ln := &fakeConn{}
	c := &rawConn{Conn: ln}
	ln.data = append([]byte("POST /a HTTP/1.1\r\nContent-Length: 300000\r\n\r\n"), make([]byte, 300000)...)
	ln.data = append(ln.data, "POST /p HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"...)
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			break
		}
	}
	if len(c.buf) > window {
		t.Errorf("window holds %d bytes, want at most %d", len(c.buf), window)
	}
	if err := checkHead(c.head("/p")); err == nil {
		t.Error("the CL+TE head after a large body was not found")
	}
}

// fakeConn is a net.Conn reading from data: the window logic needs bytes
// in read-sized pieces, which no real peer can hand out deterministically.
type fakeConn struct {
	net.Conn
	data []byte
}

func (f *fakeConn) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}
