package http

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// alpnACME is the ALPN protocol of ACME's TLS-ALPN-01 challenge (RFC 8737):
// a CA's validator negotiates it, checks the certificate and hangs up.
const alpnACME = "acme-tls/1"

// ServeTLS is Serve over TLS: every connection accepted on ln is a TLS
// server connection with config, at least TLS 1.2. The TLS layer sits below
// the recorder of raw request heads, so requests are checked exactly as
// over plain HTTP (Content-Length with Transfer-Encoding is refused), and
// the server's timeouts and limits apply unchanged; the handshake itself
// must finish within the read-header timeout.
//
// HTTP/2 is not offered: net/http only speaks it on connections it sees as
// *tls.Conn, and the recorder wraps them. Webhook senders use HTTP/1.1.
// The acme-tls/1 protocol is kept when config offers it, for TLS-ALPN-01.
func (s *Server) ServeTLS(ln net.Listener, config *tls.Config) error {
	cfg := config.Clone()
	cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	protos := []string{"http/1.1"}
	if slices.Contains(cfg.NextProtos, alpnACME) {
		protos = append(protos, alpnACME)
	}
	cfg.NextProtos = protos
	tl := &tlsListener{Listener: ln, config: cfg, timeout: s.limits.ReadHeaderTimeout, server: s}
	// net/http fills in Request.TLS only for connections it wraps itself;
	// verifiers rely on it (Twilio's signed URL is https when TLS ends here).
	next := s.srv.Handler
	s.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc := rawConnFrom(r.Context()); rc != nil {
			if tc, ok := rc.Conn.(*tlsConn); ok {
				state := tc.ConnectionState()
				r.TLS = &state
			}
		}
		next.ServeHTTP(w, r)
	})
	err := s.srv.Serve(&rawListener{Listener: tl})
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// tlsListener makes each accepted connection a TLS server connection whose
// handshake happens on first use, within timeout.
type tlsListener struct {
	net.Listener
	config  *tls.Config
	timeout time.Duration
	server  *Server
}

func (l *tlsListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &tlsConn{Conn: tls.Server(c, l.config), timeout: l.timeout, server: l.server}, nil
}

// tlsConn completes the handshake, bounded in time, before the first read
// or write. net/http bounds reads by deadlines it sets per request, but
// those do not cover the handshake's writes; a context-bound handshake
// closes the connection when the time is up.
type tlsConn struct {
	*tls.Conn
	timeout time.Duration
	server  *Server
	once    sync.Once
	err     error
}

// errChallengeDone ends a TLS-ALPN-01 validation connection: the validator
// only wanted the handshake.
var errChallengeDone = errors.New("acme-tls/1 challenge answered")

func (c *tlsConn) handshake() error {
	c.once.Do(func() {
		ctx := context.Background()
		if c.timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.timeout)
			defer cancel()
		}
		if err := c.Conn.HandshakeContext(ctx); err != nil {
			c.err = err
			// As net/http does: a plain HTTP request gets a plain answer.
			var rhe tls.RecordHeaderError
			if errors.As(err, &rhe) && rhe.Conn != nil && looksLikeHTTP(rhe.RecordHeader) {
				io.WriteString(rhe.Conn, "HTTP/1.0 400 Bad Request\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
				rhe.Conn.Close()
			}
			c.server.logger.Debug("tls handshake failed", "remote", c.RemoteAddr().String(), "err", err)
			return
		}
		if c.ConnectionState().NegotiatedProtocol == alpnACME {
			c.err = errChallengeDone
		}
	})
	return c.err
}

// looksLikeHTTP reports whether the first bytes of a connection are an
// HTTP/1 method rather than a TLS record.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO", "DELET", "PATCH", "CONNE", "TRACE":
		return true
	}
	return false
}

func (c *tlsConn) Read(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *tlsConn) Write(p []byte) (int, error) {
	if err := c.handshake(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}
