package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultACMEDirectory is Let's Encrypt's production ACME directory, used
// when tls.acme.directory is left out.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// TLS is the `tls:` block: the public listener serves HTTPS with a
// certificate either from files (CertFile and KeyFile) or from an ACME
// certificate authority (ACME). A nil *TLS in Config means plain HTTP.
type TLS struct {
	// CertFile and KeyFile are PEM files (the certificate chain and its
	// private key), resolved against the config file's directory. They are
	// read again when they change, so a renewed certificate is picked up
	// without a restart.
	CertFile string
	KeyFile  string
	// ACME, when not nil, obtains and renews certificates automatically.
	ACME *ACME
}

// ACME is `tls.acme:`: certificates for Domains from an ACME CA (Let's
// Encrypt by default), validated by TLS-ALPN-01 on the public listener and,
// when HTTP is set, by HTTP-01 on a plain HTTP listener.
type ACME struct {
	Domains []string // the names certificates are obtained for; required
	Email   string   // the account's contact, for expiry notices; optional
	// Directory is the CA's directory URL; DefaultACMEDirectory when left out.
	Directory string
	// DirectoryCA is a PEM file of certificates to trust, besides the
	// system's, when talking to Directory: for a private or test CA.
	DirectoryCA string
	// Cache is the directory that keeps the account key and certificates;
	// <data>/acme when left out.
	Cache string
	// HTTP is the address of a plain HTTP listener (0.0.0.0:80) that
	// answers HTTP-01 challenges; empty means none.
	HTTP string
	// Redirect makes the HTTP listener send every other request to HTTPS
	// (308); otherwise it answers them 404.
	Redirect bool
}

type tlsConfig struct {
	Cert string      `yaml:"cert"`
	Key  string      `yaml:"key"`
	ACME *acmeConfig `yaml:"acme"`
}

type acmeConfig struct {
	Domains     []string `yaml:"domains"`
	Email       string   `yaml:"email"`
	Directory   string   `yaml:"directory"`
	DirectoryCA string   `yaml:"directory_ca"`
	Cache       string   `yaml:"cache"`
	HTTP        string   `yaml:"http"`
	Redirect    bool     `yaml:"redirect"`
}

// buildTLS validates the `tls:` block n (nil when absent) and sets cfg.TLS.
// Files are checked now, so that `postbox check` catches a certificate that
// will not load before a server refuses to start.
func (l *loader) buildTLS(n *yaml.Node, tc *tlsConfig, cfg *Config) {
	if tc == nil || n == nil {
		return
	}
	for _, p := range l.problems {
		if p.Field == "tls" || strings.HasPrefix(p.Field, "tls.") {
			return // a misspelt key: one mistake, one problem
		}
	}
	t := &TLS{}
	cfg.TLS = t
	files := tc.Cert != "" || tc.Key != ""
	switch {
	case files && tc.ACME != nil:
		l.addf(n, "tls", "has both cert/key and acme: use certificate files or ACME, not both")
		return
	case !files && tc.ACME == nil:
		l.addf(n, "tls", "must name cert and key (PEM files), or acme: {domains: [...]}")
		return
	case tc.ACME != nil:
		t.ACME = l.buildACME(findKey(n, "acme"), tc.ACME, cfg)
		return
	case tc.Cert == "":
		l.addf(n, "tls.cert", "is required with tls.key (the certificate chain, a PEM file)")
		return
	case tc.Key == "":
		l.addf(n, "tls.key", "is required with tls.cert (the private key, a PEM file)")
		return
	}
	t.CertFile, t.KeyFile = l.relative(tc.Cert), l.relative(tc.Key)
	ok := true
	for _, f := range []struct{ key, path string }{{"cert", t.CertFile}, {"key", t.KeyFile}} {
		if _, err := os.ReadFile(f.path); err != nil {
			l.addf(findKey(n, f.key), "tls."+f.key, "cannot load %s: %v", f.path, unwrapPathErr(err))
			ok = false
		}
	}
	if !ok {
		return
	}
	pair, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		l.addf(findKey(n, "cert"), "tls", "cannot load the certificate and key as a pair: %v", strings.TrimPrefix(err.Error(), "tls: "))
		return
	}
	if pair.Leaf != nil && len(pair.Leaf.DNSNames) == 0 && len(pair.Leaf.IPAddresses) == 0 {
		l.addf(findKey(n, "cert"), "tls.cert", "%s names no host (no subject alternative name): clients will refuse it", t.CertFile)
	}
}

func (l *loader) buildACME(n *yaml.Node, ac *acmeConfig, cfg *Config) *ACME {
	a := &ACME{
		Email:       ac.Email,
		Directory:   orDefault(ac.Directory, DefaultACMEDirectory),
		DirectoryCA: ac.DirectoryCA,
		Cache:       ac.Cache,
		HTTP:        ac.HTTP,
		Redirect:    ac.Redirect,
	}
	if len(ac.Domains) == 0 {
		l.addf(n, "tls.acme.domains", "is required: the names to obtain certificates for, e.g. [hooks.example.org]")
	}
	seen := map[string]bool{}
	for i, d := range ac.Domains {
		d = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(d), "."))
		field := fmt.Sprintf("tls.acme.domains[%d]", i)
		if msg := acmeDomainProblem(d); msg != "" {
			l.addf(findKey(n, "domains"), field, "%q %s", ac.Domains[i], msg)
			continue
		}
		if seen[d] {
			l.addf(findKey(n, "domains"), field, "%s is listed twice", d)
			continue
		}
		seen[d] = true
		a.Domains = append(a.Domains, d)
	}
	if a.Email != "" {
		if addr, err := mail.ParseAddress(a.Email); err != nil || addr.Address != a.Email {
			l.addf(findKey(n, "email"), "tls.acme.email", "%q is not an email address", a.Email)
		}
	}
	if u, err := url.Parse(a.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
		l.addf(findKey(n, "directory"), "tls.acme.directory", "%q is not an https:// URL of an ACME directory", a.Directory)
	}
	if a.DirectoryCA != "" {
		a.DirectoryCA = l.relative(a.DirectoryCA)
		if data, err := os.ReadFile(a.DirectoryCA); err != nil {
			l.addf(findKey(n, "directory_ca"), "tls.acme.directory_ca", "cannot load %s: %v", a.DirectoryCA, unwrapPathErr(err))
		} else if !x509.NewCertPool().AppendCertsFromPEM(data) {
			l.addf(findKey(n, "directory_ca"), "tls.acme.directory_ca", "%s holds no PEM certificate", a.DirectoryCA)
		}
	}
	if a.Cache == "" {
		a.Cache = filepath.Join(cfg.Data, "acme")
	}
	if a.HTTP != "" {
		if err := listenAddr(a.HTTP); err != nil {
			l.addf(findKey(n, "http"), "tls.acme.http", "%q is not a host:port address: %v", a.HTTP, err)
		} else if samePort(a.HTTP, cfg.Listen) {
			l.addf(findKey(n, "http"), "tls.acme.http", "%s is the port of listen (%s): the HTTP-01 listener needs a port of its own, usually 80", a.HTTP, cfg.Listen)
		}
	} else if a.Redirect {
		l.addf(findKey(n, "redirect"), "tls.acme.redirect", "needs tls.acme.http, the plain HTTP listener to redirect from (e.g. http: 0.0.0.0:80)")
	}
	return a
}

// acmeDomainProblem says what makes d unusable for an ACME certificate by
// TLS-ALPN-01 or HTTP-01, or "".
func acmeDomainProblem(d string) string {
	switch {
	case d == "":
		return "is empty"
	case strings.Contains(d, "*"):
		return "is a wildcard: wildcard certificates need the DNS-01 challenge, which postbox does not do"
	case net.ParseIP(d) != nil:
		return "is an IP address: ACME certificates here are for domain names"
	case !strings.Contains(d, "."):
		return "is not a fully qualified domain name (like hooks.example.org)"
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || strings.HasPrefix(label, "-") || strings.HasSuffix(label, "-") {
			return "is not a valid domain name"
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return "is not a valid domain name (use the punycode form, xn--..., for international names)"
			}
		}
	}
	return ""
}

// relative resolves path against the config file's directory.
func (l *loader) relative(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(filepath.Dir(l.file), path)
}

// samePort reports whether two host:port addresses use the same port.
func samePort(a, b string) bool {
	_, pa, errA := net.SplitHostPort(a)
	_, pb, errB := net.SplitHostPort(b)
	return errA == nil && errB == nil && pa == pb && pa != "0"
}

// unwrapPathErr drops the path an *os.PathError repeats.
func unwrapPathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
