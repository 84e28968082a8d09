package http

import (
	"bytes"
	"context"
	"net"
	"sync"

	"github.com/postbox/postbox"
)

// net/http accepts a request with both Content-Length and Transfer-Encoding
// (it drops Content-Length, as RFC 9112 allows), but such a request is the
// classic smuggling probe and postbox answers it 400. The parsed request no
// longer shows the header, so each connection keeps a window of the raw
// bytes last read, and a handler finds its own request's head in it.

// window is how many of the last bytes read a connection keeps: a head is at
// most MaxHeaderBytes, and net/http reads at most 4 KiB ahead of it.
const window = 64<<10 + 8<<10

type rawListener struct{ net.Listener }

func (l *rawListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c}, nil
}

// rawConn records the last bytes read. Offsets are absolute (since the
// connection opened), so that a handler can look for its head after the end
// of the previous request's head, whatever was trimmed meanwhile.
type rawConn struct {
	net.Conn
	mu   sync.Mutex
	buf  []byte
	base int64 // absolute offset of buf[0]
	pos  int64 // absolute offset where the last head found ended
}

func (c *rawConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.buf = append(c.buf, p[:n]...)
		if over := len(c.buf) - window; over > 0 {
			c.buf = c.buf[:copy(c.buf, c.buf[over:])]
			c.base += int64(over)
		}
		c.mu.Unlock()
	}
	return n, err
}

// head returns the raw head of the next request for uri after the previous
// one, or nil when it is no longer in the window.
func (c *rawConn) head(uri string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	from := max(c.pos-c.base, 0)
	// The request line may have lost its first byte to net/http's
	// background read, so find it by "<uri> HTTP/".
	i := bytes.Index(c.buf[from:], []byte(" "+uri+" HTTP/"))
	if i < 0 {
		return nil
	}
	h := c.buf[from+int64(i):]
	end := bytes.Index(h, []byte("\r\n\r\n"))
	if end < 0 {
		if end = bytes.Index(h, []byte("\n\n")); end < 0 {
			end = len(h)
		}
	}
	c.pos = c.base + from + int64(i) + int64(end)
	return bytes.Clone(h[:end])
}

type rawConnKey struct{}

func withRawConn(ctx context.Context, c net.Conn) context.Context {
	if rc, ok := c.(*rawConn); ok {
		return context.WithValue(ctx, rawConnKey{}, rc)
	}
	return ctx
}

func rawConnFrom(ctx context.Context) *rawConn {
	rc, _ := ctx.Value(rawConnKey{}).(*rawConn)
	return rc
}

// checkHead inspects a request's raw head: both Content-Length and
// Transfer-Encoding is an EINVALID error.
func checkHead(head []byte) error {
	var cl, te bool
	for _, line := range bytes.Split(head, []byte("\n")) {
		name, _, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name = bytes.TrimSpace(name)
		cl = cl || bytes.EqualFold(name, []byte("Content-Length"))
		te = te || bytes.EqualFold(name, []byte("Transfer-Encoding"))
	}
	if cl && te {
		return postbox.Errorf(postbox.EINVALID, "request has both Content-Length and Transfer-Encoding")
	}
	return nil
}
