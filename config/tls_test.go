package config_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox/config"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key as
// PEM files in dir and returns their paths.
func writeCert(t *testing.T, dir, name string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

const oneHook = "hooks:\n  - id: a\n"

func TestTLSFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir, "a")
	cfg := parse(t, "tls: {cert: "+cert+", key: "+key+"}\n"+oneHook)
	if cfg.TLS == nil || cfg.TLS.CertFile != cert || cfg.TLS.KeyFile != key || cfg.TLS.ACME != nil {
		t.Fatalf("TLS = %+v, want the two files", cfg.TLS)
	}
	if cfg := parse(t, oneHook); cfg.TLS != nil {
		t.Errorf("without tls: TLS = %+v, want nil (plain HTTP)", cfg.TLS)
	}

	// Relative paths are the config file's neighbours, as schema: files are.
	if err := os.WriteFile(filepath.Join(dir, "postbox.yaml"), []byte("tls: {cert: a.crt, key: a.key}\n"+oneHook), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "postbox.yaml"), getenv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TLS.CertFile != cert || cfg.TLS.KeyFile != key {
		t.Errorf("relative files resolved to %s and %s, want %s and %s", cfg.TLS.CertFile, cfg.TLS.KeyFile, cert, key)
	}
}

func TestTLSProblems(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir, "a")
	_, otherKey := writeCert(t, dir, "b")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	tests := []struct {
		name string
		tls  string
		want string
	}{
		{"an empty block needs files or acme", "tls: {}",
			"p.yaml:1: tls must name cert and key (PEM files), or acme: {domains: [...]}"},
		{"files and acme together are refused", "tls: {cert: " + cert + ", key: " + key + ", acme: {domains: [a.example.org]}}",
			"p.yaml:1: tls has both cert/key and acme: use certificate files or ACME, not both"},
		{"a cert needs a key", "tls: {cert: " + cert + "}",
			"p.yaml:1: tls.key is required with tls.cert (the private key, a PEM file)"},
		{"a key needs a cert", "tls: {key: " + key + "}",
			"p.yaml:1: tls.cert is required with tls.key (the certificate chain, a PEM file)"},
		{"a missing certificate file is named", "tls: {cert: " + missing + ", key: " + key + "}",
			"p.yaml:1: tls.cert: cannot load " + missing + ": no such file or directory"},
		{"a key that is not the certificate's is refused", "tls: {cert: " + cert + ", key: " + otherKey + "}",
			"p.yaml:1: tls: cannot load the certificate and key as a pair: private key does not match public key"},
		{"a file that is not PEM is refused", "tls: {cert: " + notPEM + ", key: " + key + "}",
			"p.yaml:1: tls: cannot load the certificate and key as a pair: failed to find any PEM data in certificate input"},
		{"an unknown key names the nearest", "tls: {cert: " + cert + ", kye: " + key + "}",
			`p.yaml:1: tls.kye: unknown key (did you mean "key"?)`},
		{"acme needs domains", "tls:\n  acme: {email: me@example.org}",
			"p.yaml:2: tls.acme.domains is required: the names to obtain certificates for, e.g. [hooks.example.org]"},
		{"acme refuses a wildcard", "tls:\n  acme: {domains: ['*.example.org']}",
			`p.yaml:2: tls.acme.domains[0]: "*.example.org" is a wildcard: wildcard certificates need the DNS-01 challenge, which postbox does not do`},
		{"acme refuses an IP address", "tls:\n  acme: {domains: [192.0.2.1]}",
			`p.yaml:2: tls.acme.domains[0]: "192.0.2.1" is an IP address: ACME certificates here are for domain names`},
		{"acme refuses a single label", "tls:\n  acme: {domains: [localhost]}",
			`p.yaml:2: tls.acme.domains[0]: "localhost" is not a fully qualified domain name (like hooks.example.org)`},
		{"acme refuses a bad name", "tls:\n  acme: {domains: [a_b.example.org]}",
			`p.yaml:2: tls.acme.domains[0]: "a_b.example.org" is not a valid domain name (use the punycode form, xn--..., for international names)`},
		{"acme refuses a domain twice", "tls:\n  acme: {domains: [a.example.org, A.example.org]}",
			`p.yaml:2: tls.acme.domains[1]: a.example.org is listed twice`},
		{"acme refuses a bad email", "tls:\n  acme: {domains: [a.example.org], email: me}",
			`p.yaml:2: tls.acme.email: "me" is not an email address`},
		{"acme refuses a directory that is not https", "tls:\n  acme: {domains: [a.example.org], directory: 'http://ca.example.org/dir'}",
			`p.yaml:2: tls.acme.directory: "http://ca.example.org/dir" is not an https:// URL of an ACME directory`},
		{"acme names a missing directory_ca", "tls:\n  acme: {domains: [a.example.org], directory_ca: " + missing + "}",
			"p.yaml:2: tls.acme.directory_ca: cannot load " + missing + ": no such file or directory"},
		{"acme refuses a directory_ca without certificates", "tls:\n  acme: {domains: [a.example.org], directory_ca: " + notPEM + "}",
			"p.yaml:2: tls.acme.directory_ca: " + notPEM + " holds no PEM certificate"},
		{"acme refuses a bad http address", "tls:\n  acme: {domains: [a.example.org], http: 80}",
			`p.yaml:2: tls.acme.http: "80" is not a host:port address: address 80: missing port in address`},
		{"acme refuses http on the port of listen", "listen: 0.0.0.0:443\ntls:\n  acme: {domains: [a.example.org], http: '0.0.0.0:443'}",
			"p.yaml:3: tls.acme.http: 0.0.0.0:443 is the port of listen (0.0.0.0:443): the HTTP-01 listener needs a port of its own, usually 80"},
		{"acme refuses redirect without http", "tls:\n  acme: {domains: [a.example.org], redirect: true}",
			"p.yaml:2: tls.acme.redirect: needs tls.acme.http, the plain HTTP listener to redirect from (e.g. http: 0.0.0.0:80)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problems(t, tt.tls+"\n"+oneHook)
			if !slices.Equal(got, []string{tt.want}) {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), tt.want)
			}
		})
	}
}

func TestTLSACMEDefaults(t *testing.T) {
	cfg := parse(t, "data: /var/lib/postbox\ntls:\n  acme: {domains: [Hooks.Example.org.], email: me@example.org, http: '0.0.0.0:80', redirect: true}\n"+oneHook)
	a := cfg.TLS.ACME
	if a == nil {
		t.Fatal("no ACME settings")
	}
	want := config.ACME{Domains: []string{"hooks.example.org"}, Email: "me@example.org", Directory: config.DefaultACMEDirectory,
		Cache: "/var/lib/postbox/acme", HTTP: "0.0.0.0:80", Redirect: true}
	if !slices.Equal(a.Domains, want.Domains) || a.Email != want.Email || a.Directory != want.Directory ||
		a.Cache != want.Cache || a.HTTP != want.HTTP || a.Redirect != want.Redirect || a.DirectoryCA != "" {
		t.Errorf("ACME = %+v, want %+v", *a, want)
	}
}
