package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/postbox/postbox/config"
	phttp "github.com/postbox/postbox/http"
	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// publicTLS serves the public listener over TLS when the config has a
// `tls:` block, and plain HTTP otherwise. With ACME it also owns the
// optional HTTP-01 listener and the first certificate requests; stop ends
// both.
type publicTLS struct {
	cfg    *config.Config
	logger *slog.Logger
	config *tls.Config // nil: plain HTTP

	manager *autocert.Manager // ACME only
	httpLn  net.Listener      // the HTTP-01 listener, or nil
	httpSrv *http.Server

	wg sync.WaitGroup // the HTTP-01 server and the first certificate requests
}

// startTLS prepares TLS for the public listener: it loads the certificate
// files, or sets up ACME and binds its HTTP-01 listener, so that a problem
// stops the server before it reports ready.
func startTLS(cfg *config.Config, logger *slog.Logger) (*publicTLS, error) {
	p := &publicTLS{cfg: cfg, logger: logger.With("listener", "public")}
	t := cfg.TLS
	switch {
	case t == nil:
		return p, nil
	case t.ACME == nil:
		certs := &certFiles{cert: t.CertFile, key: t.KeyFile, logger: p.logger}
		if err := certs.load(); err != nil {
			return nil, fmt.Errorf("tls: %w", err)
		}
		p.config = &tls.Config{GetCertificate: certs.get, MinVersion: tls.VersionTLS12}
		p.logger.Info("tls", "cert", t.CertFile, "key", t.KeyFile)
		return p, nil
	}
	a := t.ACME
	client := &acme.Client{DirectoryURL: a.Directory, UserAgent: "postbox/" + releaseVersion()}
	if a.DirectoryCA != "" {
		hc, err := trustingClient(a.DirectoryCA)
		if err != nil {
			return nil, fmt.Errorf("tls.acme.directory_ca: %w", err)
		}
		client.HTTPClient = hc
	}
	if err := os.MkdirAll(a.Cache, 0o700); err != nil {
		return nil, fmt.Errorf("tls.acme.cache: %w", err)
	}
	p.manager = &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(a.Cache),
		HostPolicy: autocert.HostWhitelist(a.Domains...),
		Client:     client,
		Email:      a.Email,
	}
	p.config = &tls.Config{
		GetCertificate: p.manager.GetCertificate,
		NextProtos:     []string{"http/1.1", acme.ALPNProto},
		MinVersion:     tls.VersionTLS12,
	}
	if a.HTTP != "" {
		ln, err := net.Listen("tcp", a.HTTP)
		if err != nil {
			return nil, fmt.Errorf("tls.acme.http: listen: %w", err)
		}
		p.httpLn = ln
		lim := cfg.Limits
		p.httpSrv = &http.Server{
			// Set now: HTTPHandler is what enables HTTP-01 challenges.
			Handler:           p.manager.HTTPHandler(nil),
			MaxHeaderBytes:    lim.MaxHeaderBytes,
			ReadHeaderTimeout: lim.ReadHeaderTimeout,
			ReadTimeout:       lim.ReadTimeout,
			WriteTimeout:      lim.WriteTimeout,
			IdleTimeout:       lim.IdleTimeout,
			ErrorLog:          slog.NewLogLogger(p.logger.Handler(), slog.LevelDebug),
		}
	}
	p.logger.Info("tls", "acme", a.Directory, "domains", strings.Join(a.Domains, ","), "cache", a.Cache,
		"http", a.HTTP, "redirect", a.Redirect)
	return p, nil
}

// serve serves ln with srv, over TLS when configured. With ACME it starts
// the HTTP-01 listener and asks for each domain's certificate now, so that
// the first client does not wait for it.
func (p *publicTLS) serve(srv *phttp.Server, ln net.Listener) error {
	if p.config == nil {
		return srv.Serve(ln)
	}
	if p.manager != nil {
		if p.httpSrv != nil {
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			p.httpSrv.Handler = p.httpHandler(p.httpSrv.Handler, port)
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				if err := p.httpSrv.Serve(p.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
					p.logger.Error("acme http listener failed", "err", err)
				}
			}()
			p.logger.Info("acme http ready", "addr", p.httpLn.Addr().String())
		}
		for _, d := range p.cfg.TLS.ACME.Domains {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.obtain(d)
			}()
		}
	}
	return srv.ServeTLS(ln, p.config)
}

// obtain gets the certificate for domain from the cache or the CA, as the
// first ECDSA-capable client would, and logs the outcome. A failure is
// retried at the next handshake for the domain.
func (p *publicTLS) obtain(domain string) {
	hello := &tls.ClientHelloInfo{
		ServerName:        domain,
		SignatureSchemes:  []tls.SignatureScheme{tls.ECDSAWithP256AndSHA256},
		SupportedCurves:   []tls.CurveID{tls.CurveP256},
		CipherSuites:      []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256},
		SupportedVersions: []uint16{tls.VersionTLS13, tls.VersionTLS12},
	}
	start := time.Now()
	cert, err := p.manager.GetCertificate(hello)
	if err != nil {
		p.logger.Error("certificate not obtained; tried again at the next connection", "domain", domain, "err", err)
		return
	}
	attrs := []any{"domain", domain, "took", time.Since(start).Round(time.Millisecond)}
	if leaf := cert.Leaf; leaf != nil {
		attrs = append(attrs, "issuer", leaf.Issuer.String(), "not_after", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	p.logger.Info("certificate ready", attrs...)
}

// httpHandler answers HTTP-01 challenges (by acmeHandler) and every other
// request with a redirect to HTTPS on port, or 404.
func (p *publicTLS) httpHandler(acmeHandler http.Handler, port string) http.Handler {
	a := p.cfg.TLS.ACME
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := strings.ToLower(r.Host)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
			// The host policy compares names; a CA on port 80 sends none.
			r.Host = host
			acmeHandler.ServeHTTP(w, r)
			return
		}
		if !a.Redirect {
			http.Error(w, "postbox: this listener answers ACME challenges only; hooks are served over HTTPS", http.StatusNotFound)
			return
		}
		// Only to a name postbox has a certificate for: the Host header
		// is the client's to choose.
		if !slices.Contains(a.Domains, host) {
			host = a.Domains[0]
		}
		if port != "443" {
			host = net.JoinHostPort(host, port)
		}
		// 308 keeps the method and the body, unlike 301 and 302.
		http.Redirect(w, r, "https://"+host+r.URL.RequestURI(), http.StatusPermanentRedirect)
	})
}

// stop shuts the HTTP-01 listener down and waits, until ctx ends, for the
// certificate requests still running (they cannot be cancelled).
func (p *publicTLS) stop(ctx context.Context) {
	if p.httpSrv != nil {
		if err := p.httpSrv.Shutdown(ctx); err != nil {
			p.httpSrv.Close()
		}
		p.httpLn.Close() // in case serve never started it
	}
	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		p.logger.Warn("a certificate request was still running at shutdown")
	}
}

// sameTLS reports whether two configurations' tls: blocks are the same, for
// a reload: TLS settings change only at a restart.
func sameTLS(a, b *config.TLS) bool {
	switch {
	case a == nil || b == nil:
		return a == b
	case (a.ACME == nil) != (b.ACME == nil):
		return false
	case a.ACME == nil:
		return a.CertFile == b.CertFile && a.KeyFile == b.KeyFile
	}
	x, y := *a.ACME, *b.ACME
	return slices.Equal(x.Domains, y.Domains) && x.Email == y.Email && x.Directory == y.Directory &&
		x.DirectoryCA == y.DirectoryCA && x.Cache == y.Cache && x.HTTP == y.HTTP && x.Redirect == y.Redirect
}

// trustingClient is an HTTP client that trusts the system's roots and the
// PEM certificates in file, for a private ACME directory.
func trustingClient(file string) (*http.Client, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr}, nil
}

// certFiles serves a certificate from PEM files and reads them again when
// they change (checked at most every recheck), so that a renewed
// certificate is used without a restart. A pair that does not load keeps
// the previous one in use.
type certFiles struct {
	cert, key string
	logger    *slog.Logger
	now       func() time.Time // nil means time.Now

	mu      sync.Mutex
	pair    *tls.Certificate
	stamp   string
	checked time.Time
}

// recheck is how often the files are looked at, at most.
const recheck = 10 * time.Second

func (c *certFiles) load() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loadLocked()
}

func (c *certFiles) loadLocked() error {
	stamp := fileStamp(c.cert) + "/" + fileStamp(c.key)
	pair, err := tls.LoadX509KeyPair(c.cert, c.key)
	if err != nil {
		return err
	}
	c.pair, c.stamp = &pair, stamp
	if pair.Leaf != nil {
		c.logger.Info("certificate loaded", "file", c.cert, "subject", pair.Leaf.Subject.String(),
			"not_after", pair.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	return nil
}

func (c *certFiles) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now
	if c.now != nil {
		now = c.now
	}
	if now := now(); now.Sub(c.checked) >= recheck {
		c.checked = now
		if stamp := fileStamp(c.cert) + "/" + fileStamp(c.key); stamp != c.stamp {
			if err := c.loadLocked(); err != nil {
				c.logger.Warn("certificate files changed but do not load; the previous certificate stays in use", "err", err)
				c.stamp = stamp // not again until they change again
			}
		}
	}
	return c.pair, nil
}
