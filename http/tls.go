package http

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"slices"
)

// alpnACME is the ALPN protocol of ACME's TLS-ALPN-01 challenge (RFC 8737):
// a CA's validator negotiates it, checks the certificate and hangs up.
const alpnACME = "acme-tls/1"

// ServeTLS is Serve over TLS with config, at least TLS 1.2, by net/http
// itself: it owns the handshake (bounded by the shortest of the read-header,
// read and write timeouts), fills in Request.TLS (Twilio's signed URL is
// https when TLS ends here), answers a plain HTTP request with 400, and
// speaks HTTP/2 as well as HTTP/1.1. Every limit and check of the plain
// listener applies unchanged.
//
// The acme-tls/1 protocol is kept when config offers it: net/http serves no
// requests on such a connection and closes it after the handshake, which is
// all a TLS-ALPN-01 validator wants.
func (s *Server) ServeTLS(ln net.Listener, config *tls.Config) error {
	cfg := config.Clone()
	cfg.MinVersion = max(cfg.MinVersion, tls.VersionTLS12)
	// The server's order wins in ALPN: h2 first, so that a client offering
	// both gets HTTP/2.
	protos := []string{"h2", "http/1.1"}
	if slices.Contains(config.NextProtos, alpnACME) {
		protos = append(protos, alpnACME)
	}
	cfg.NextProtos = protos
	s.srv.TLSConfig = cfg
	// No files: the certificate comes from cfg (Certificates or
	// GetCertificate).
	err := s.srv.ServeTLS(ln, "", "")
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
