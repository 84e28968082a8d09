package e2e

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned is a certificate made by a test: its files and a pool that
// trusts it.
type selfSigned struct {
	certFile, keyFile string
	pool              *x509.CertPool
}

// newSelfSigned writes a self-signed certificate for 127.0.0.1, ::1 and
// localhost (and names) with its key into dir.
func newSelfSigned(t *testing.T, dir string, names ...string) selfSigned {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "postbox e2e"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		DNSNames:              append([]string{"localhost"}, names...),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := selfSigned{certFile: filepath.Join(dir, "cert.pem"), keyFile: filepath.Join(dir, "key.pem"), pool: x509.NewCertPool()}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(c.certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	c.pool.AppendCertsFromPEM(certPEM)
	return c
}

const tlsConfig = `
listen: 127.0.0.1:0
admin: off
data: ./data
tls: {cert: @CERT@, key: @KEY@}
limits:
  max_body: 1KiB
  read_header_timeout: 1s
hooks:
  - id: lamp
    path: /post
    auth:
      token: {header: X-Token, secret: s3cret}
    response: {status: 200, body: SUCCESS}
  - id: twilio
    path: /twilio
    auth:
      twilio: {secret: twilio-auth-token}
`

// TestTLS serves hooks over HTTPS with a certificate from files and checks
// that the listener keeps every protection of the plain one.
func TestTLS(t *testing.T) {
	t.Parallel()
	cert := newSelfSigned(t, t.TempDir())
	s := startServer(t, strings.NewReplacer("@CERT@", cert.certFile, "@KEY@", cert.keyFile).Replace(tlsConfig))
	s.url = "https://" + s.addr
	s.client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: cert.pool},
		ForceAttemptHTTP2: true,
	}}
	lamp := map[string]string{"X-Token": "s3cret", "Content-Type": "application/json"}

	t.Run("a hook answers over HTTPS with TLS 1.2 or later and HTTP/2", func(t *testing.T) {
		resp, body := s.do(t, request{method: "POST", path: "/post", header: lamp, body: `{"state":"on"}`})
		if resp.StatusCode != 200 || body != "SUCCESS" {
			t.Fatalf("got %d %q, want 200 SUCCESS", resp.StatusCode, body)
		}
		if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
			t.Errorf("connection state %+v, want TLS 1.2 or later", resp.TLS)
		}
		if resp.ProtoMajor != 2 {
			t.Errorf("protocol %s, want HTTP/2 for a client that offers it", resp.Proto)
		}
		if got := s.deliveries(); len(got) != 1 || got[0].Hook != "lamp" {
			t.Errorf("stored %+v, want one lamp delivery", got)
		}
	})

	t.Run("authentication still applies", func(t *testing.T) {
		resp, _ := s.do(t, request{method: "POST", path: "/post", header: with(lamp, "X-Token", "wrong"), body: `{}`})
		if resp.StatusCode != 401 {
			t.Errorf("got %d, want 401", resp.StatusCode)
		}
	})

	t.Run("the body limit still applies", func(t *testing.T) {
		resp, _ := s.do(t, request{method: "POST", path: "/post", header: lamp, body: strings.Repeat("x", 2048)})
		if resp.StatusCode != 413 {
			t.Errorf("got %d, want 413", resp.StatusCode)
		}
	})

	t.Run("requests carry their TLS state: Twilio's https URL verifies", func(t *testing.T) {
		mac := hmac.New(sha1.New, []byte("twilio-auth-token"))
		io.WriteString(mac, s.url+"/twilio"+"Bodyon"+"Fromalice")
		resp, body := s.do(t, request{method: "POST", path: "/twilio", body: "Body=on&From=alice", header: with(formType,
			"X-Twilio-Signature", base64.StdEncoding.EncodeToString(mac.Sum(nil)))})
		if resp.StatusCode != 200 {
			t.Errorf("got %d %q, want 200: the URL was not rebuilt as https", resp.StatusCode, body)
		}
	})

	t.Run("TLS 1.1 is refused", func(t *testing.T) {
		c, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: cert.pool, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
		if err == nil {
			c.Close()
			t.Fatal("a TLS 1.1 handshake succeeded")
		}
	})

	t.Run("HTTP/1.1 is spoken inside TLS; Content-Length with Transfer-Encoding closes the connection", func(t *testing.T) {
		c, err := tls.Dial("tcp", s.addr, &tls.Config{RootCAs: cert.pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		io.WriteString(c, "POST /post HTTP/1.1\r\nHost: x\r\nX-Token: s3cret\r\nContent-Type: application/json\r\n"+
			"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"+chunked(`{"state":"on"}`, 4)+closer)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || !resp.Close {
			t.Errorf("got %d (Connection: close %v), want 200 with Connection: close", resp.StatusCode, resp.Close)
		}
		if resp, err := http.ReadResponse(br, nil); err == nil {
			t.Errorf("the request behind it was answered %d: the connection stayed open", resp.StatusCode)
		}
	})

	t.Run("plain HTTP to the TLS port gets 400", func(t *testing.T) {
		resp, err := http.Post("http://"+s.addr+"/post", "application/json", strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Errorf("got %d, want 400", resp.StatusCode)
		}
	})

	t.Run("a client that never sends a handshake is disconnected", func(t *testing.T) {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// The bound of the wait, not a timing assertion: read_header_timeout
		// is 1s, so the server hangs up long before.
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, err = c.Read(make([]byte, 1))
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the server kept a silent connection open past read_header_timeout")
		}
	})

	t.Run("a handshake that stops half way is disconnected", func(t *testing.T) {
		c, err := net.Dial("tcp", s.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// The first bytes of a TLS record header, then nothing.
		c.Write([]byte{0x16, 0x03, 0x01})
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		_, err = io.Copy(io.Discard, c)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatal("the server waited on a stalled handshake past read_header_timeout")
		}
	})
}

// TestTLSCheck runs `postbox check` on TLS settings: a good pair passes, a
// key that does not match is named with its line.
func TestTLSCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a := newSelfSigned(t, dir)
	otherDir := filepath.Join(dir, "other")
	if err := os.Mkdir(otherDir, 0o755); err != nil {
		t.Fatal(err)
	}
	b := newSelfSigned(t, otherDir)
	write := func(cert, key string) {
		cfg := strings.NewReplacer("@CERT@", cert, "@KEY@", key).Replace(tlsConfig)
		if err := os.WriteFile(filepath.Join(dir, "postbox.yaml"), []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(a.certFile, a.keyFile)
	if res := runPostbox(t, dir, nil, "check", "--config", "postbox.yaml"); res.code != 0 || res.stdout != "ok\n" {
		t.Errorf("check of a good pair: exit %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	write(a.certFile, b.keyFile)
	res := runPostbox(t, dir, nil, "check", "--config", "postbox.yaml")
	want := "postbox.yaml:5: tls: cannot load the certificate and key as a pair: private key does not match public key\n"
	if res.code != 1 || res.stderr != want {
		t.Errorf("check of a mismatched pair: exit %d, stderr %q, want exit 1 and %q", res.code, res.stderr, want)
	}
}
