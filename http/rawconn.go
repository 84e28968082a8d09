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
// longer shows the header, so each connection records the raw bytes of a
// request's head as they are read, and the handler inspects them.

// maxRecord bounds the bytes recorded per connection between requests.
const maxRecord = 128 << 10

type rawListener struct{ net.Listener }

func (l *rawListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c, armed: true}, nil
}

// rawConn records what is read while armed: from the end of one handler to
// the start of the next, i.e. the next request's head.
type rawConn struct {
	net.Conn
	mu    sync.Mutex
	armed bool
	buf   []byte
}

func (c *rawConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		if c.armed && len(c.buf) < maxRecord {
			c.buf = append(c.buf, p[:min(n, maxRecord-len(c.buf))]...)
		}
		c.mu.Unlock()
	}
	return n, err
}

// take returns the recorded bytes and stops recording until rearm.
func (c *rawConn) take() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	b := c.buf
	c.buf = nil
	c.armed = false
	return b
}

func (c *rawConn) rearm() {
	c.mu.Lock()
	c.armed = true
	c.mu.Unlock()
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

// checkHead inspects the raw head of the request whose URI is uri: both
// Content-Length and Transfer-Encoding is an EINVALID error.
func checkHead(raw []byte, uri string) error {
	// The request line may have lost its first byte to net/http's
	// background read, so find it by "<uri> HTTP/".
	i := bytes.LastIndex(raw, []byte(" "+uri+" HTTP/"))
	if i < 0 {
		return nil
	}
	head := raw[i:]
	if end := bytes.Index(head, []byte("\r\n\r\n")); end >= 0 {
		head = head[:end]
	} else if end := bytes.Index(head, []byte("\n\n")); end >= 0 {
		head = head[:end]
	}
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
