package http

import (
	"bytes"
	"context"
	"net"
	"strconv"
	"sync"

	"github.com/postbox/postbox"
)

// net/http accepts a request with both Content-Length and Transfer-Encoding
// (it drops Content-Length, as RFC 9112 allows), but such a request is the
// classic smuggling probe and postbox answers it 400. The parsed request no
// longer shows the header, so each connection follows the HTTP/1.1 framing
// of the bytes it reads — heads, Content-Length bodies, chunked bodies, the
// way net/http frames them — and queues a verdict per request head. Each
// handler takes the next verdict, in order, so pipelining and bodies that
// quote request lines cannot confuse it.

// maxLine bounds one line kept while framing (a head line or a chunk size
// line); longer ones are left to net/http to refuse.
const maxLine = 64 << 10

type rawListener struct{ net.Listener }

func (l *rawListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &rawConn{Conn: c}, nil
}

// The states of the framing parser.
const (
	inHead     = iota // reading a request head, line by line
	inBody            // skipping n bytes of a Content-Length body
	inSize            // reading a chunk size line
	inChunk           // skipping n bytes of chunk data
	inChunkEnd        // reading the CRLF after chunk data
	inTrailer         // reading trailer lines until an empty one
	lost              // framing not understood: no more verdicts
)

// rawConn frames what is read and queues one verdict per request head.
type rawConn struct {
	net.Conn
	mu       sync.Mutex
	state    int
	line     []byte // the line being read
	started  bool   // the current head's request line was read
	cl, te   bool   // headers seen in the current head
	chunked  bool
	length   int64 // Content-Length of the current head
	n        int64 // bytes left in the body or chunk
	verdicts []error
}

func (c *rawConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.feed(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// next returns the verdict on the next request head, or nil when there is
// none (framing was lost; net/http refuses what it cannot frame anyway).
func (c *rawConn) next() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.verdicts) == 0 {
		return nil
	}
	v := c.verdicts[0]
	c.verdicts = c.verdicts[1:]
	return v
}

func (c *rawConn) feed(b []byte) {
	for len(b) > 0 && c.state != lost {
		switch c.state {
		case inBody, inChunk:
			k := min(int64(len(b)), c.n)
			c.n -= k
			b = b[k:]
			if c.n == 0 {
				if c.state == inBody {
					c.state = inHead
				} else {
					c.state = inChunkEnd
				}
			}
		default:
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				c.addLine(b)
				return
			}
			c.addLine(b[:i])
			b = b[i+1:]
			line := bytes.TrimSuffix(c.line, []byte("\r"))
			c.line = c.line[:0]
			c.endLine(line)
		}
	}
}

func (c *rawConn) addLine(b []byte) {
	if len(c.line)+len(b) > maxLine {
		c.state = lost
		return
	}
	c.line = append(c.line, b...)
}

// endLine moves the parser on after a complete line.
func (c *rawConn) endLine(line []byte) {
	switch c.state {
	case inHead:
		if len(line) == 0 {
			if !c.started {
				return // blank lines before a request are ignored
			}
			c.endHead()
			return
		}
		c.headLine(line)
	case inSize:
		size, _, _ := bytes.Cut(line, []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		switch {
		case err != nil || n < 0:
			c.state = lost
		case n == 0:
			c.state = inTrailer
		default:
			c.state, c.n = inChunk, n
		}
	case inChunkEnd:
		if len(line) != 0 {
			c.state = lost
			return
		}
		c.state = inSize
	case inTrailer:
		if len(line) == 0 {
			c.state = inHead
		}
	}
}

// headLine reads the request line, then header lines.
func (c *rawConn) headLine(line []byte) {
	if !c.started {
		c.started = true
		return
	}
	name, value, ok := bytes.Cut(line, []byte(":"))
	if !ok {
		return
	}
	name = bytes.TrimSpace(name)
	switch {
	case bytes.EqualFold(name, []byte("Content-Length")):
		c.cl = true
		if n, err := strconv.ParseInt(string(bytes.TrimSpace(value)), 10, 64); err == nil {
			c.length = n
		}
	case bytes.EqualFold(name, []byte("Transfer-Encoding")):
		c.te = true
		if bytes.Contains(bytes.ToLower(value), []byte("chunked")) {
			c.chunked = true
		}
	}
}

// endHead queues the verdict on the head just read and frames its body as
// net/http does: chunked wins over Content-Length.
func (c *rawConn) endHead() {
	var v error
	if c.cl && c.te {
		v = postbox.Errorf(postbox.EINVALID, "request has both Content-Length and Transfer-Encoding")
	}
	c.verdicts = append(c.verdicts, v)
	switch {
	case c.chunked:
		c.state = inSize
	case c.length > 0:
		c.state, c.n = inBody, c.length
	default:
		c.state = inHead
	}
	c.started, c.cl, c.te, c.chunked, c.length = false, false, false, false, 0
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
