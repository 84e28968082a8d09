package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	be "encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postbox/postbox/internal/testenv"
)

// pebbleVersion is the Pebble (Let's Encrypt's ACME test server) the ACME
// test builds from the Go module proxy; go install caches it.
const pebbleVersion = "v2.10.1"

// TestACME obtains certificates from a real ACME server, Pebble, run by the
// test, which validates for real: a DNS server of the test's own points the
// test's names at 127.0.0.1, and Pebble then connects to postbox for the
// TLS-ALPN-01 challenge (on the HTTPS listener) or the HTTP-01 challenge
// (on tls.acme.http). Clients then get a chain that Pebble's root verifies.
func TestACME(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Pebble: not under -short")
	}
	t.Parallel()
	pebble := buildPebble(t)
	dir := t.TempDir()
	// Pebble's own HTTPS certificate, which postbox trusts by directory_ca.
	acmeCert := newSelfSigned(t, dir)
	dns := startDNS(t)
	acmePort, mgmtPort, alpnPort, httpPort := freePort(t), freePort(t), freePort(t), freePort(t)
	pebbleConfig := map[string]any{"pebble": map[string]any{
		"listenAddress":           "127.0.0.1:" + acmePort,
		"managementListenAddress": "127.0.0.1:" + mgmtPort,
		"certificate":             acmeCert.certFile,
		"privateKey":              acmeCert.keyFile,
		"httpPort":                atoi(t, httpPort),
		"tlsPort":                 atoi(t, alpnPort),
		"retryAfter":              map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":            "ecdsa",
	}}
	pebbleLog, stopPebble := startPebble(t, pebble, dir, pebbleConfig, dns, acmeCert.pool, acmePort)
	roots := pebbleRoots(t, mgmtPort, acmeCert.pool)

	config := func(domain, listen, extra string) string {
		return fmt.Sprintf(`
listen: %s
admin: off
data: ./data
tls:
  acme:
    domains: [%s]
    email: ops@postbox.test
    directory: https://127.0.0.1:%s/dir
    directory_ca: %s
%shooks:
  - id: lamp
    path: /post
    response: {body: SUCCESS}
`, listen, domain, acmePort, acmeCert.certFile, extra)
	}

	// First, while nothing listens on Pebble's TLS-ALPN-01 port: the
	// TLS-ALPN-01 attempt fails and postbox falls back to HTTP-01.
	t.Run("http-01 on tls.acme.http, which redirects the rest", func(t *testing.T) {
		const domain = "http.postbox.test"
		s := startServer(t, config(domain, "127.0.0.1:0", "    http: 127.0.0.1:"+httpPort+"\n    redirect: true\n"))
		s.waitLog("the certificate", func(r record) bool { return r["msg"] == "certificate ready" && r["domain"] == domain })
		checkIssued(t, s, domain, roots)
		if want := "Attempting to validate w/ HTTP: http://" + domain + ":" + httpPort + "/.well-known/acme-challenge/"; !strings.Contains(pebbleLog.String(), want) {
			t.Errorf("Pebble's log has no %q: the certificate came without HTTP-01", want)
		}

		noFollow := &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		for host, want := range map[string]string{
			domain:                "https://" + domain + ":" + port(s.addr) + "/post?x=1",
			"other.postbox.test":  "https://" + domain + ":" + port(s.addr) + "/post?x=1",
			domain + ":" + "8080": "https://" + domain + ":" + port(s.addr) + "/post?x=1",
		} {
			req, _ := http.NewRequest("POST", "http://127.0.0.1:"+httpPort+"/post?x=1", strings.NewReader("{}"))
			req.Host = host
			resp, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != want {
				t.Errorf("Host %s: got %d to %q, want 308 to %q", host, resp.StatusCode, resp.Header.Get("Location"), want)
			}
		}
	})

	// Without tls.acme.http, TLS-ALPN-01 is the only challenge postbox takes.
	t.Run("tls-alpn-01 on the HTTPS listener, then from the cache", func(t *testing.T) {
		const domain = "alpn.postbox.test"
		s := startServer(t, config(domain, "127.0.0.1:"+alpnPort, ""))
		s.waitLog("the certificate", func(r record) bool { return r["msg"] == "certificate ready" && r["domain"] == domain })
		checkIssued(t, s, domain, roots)

		// A restart finds the certificate in tls.acme.cache: it does not
		// ask the CA again, which Let's Encrypt's rate limits would punish.
		s.stop()
		from := s.logs.len()
		stopPebble()
		s.start()
		if _, err := s.logs.waitFrom(from, 20*time.Second, s.exited, func(r record) bool {
			return r["msg"] == "certificate ready" && r["domain"] == domain
		}); err != nil {
			t.Fatalf("after a restart without the CA: %v", err)
		}
		checkIssued(t, s, domain, roots)
	})
}

// checkIssued makes an HTTPS request to s under domain and checks that the
// certificate is for domain and chains up to Pebble's root.
func checkIssued(t *testing.T, s *server, domain string, roots *x509.CertPool) {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, s.addr)
		},
	}}
	defer client.CloseIdleConnections()
	resp, err := client.Post("https://"+domain+":"+port(s.addr)+"/post", "application/json", strings.NewReader(`{"state":"on"}`))
	if err != nil {
		t.Fatalf("HTTPS request to %s: %v", domain, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "SUCCESS" {
		t.Errorf("got %d %q, want 200 SUCCESS", resp.StatusCode, body)
	}
	leaf := resp.TLS.PeerCertificates[0]
	if !slices.Contains(leaf.DNSNames, domain) {
		t.Errorf("certificate for %v, want %s", leaf.DNSNames, domain)
	}
	if len(resp.TLS.VerifiedChains) == 0 || len(resp.TLS.VerifiedChains[0]) < 3 {
		t.Errorf("verified chains %d, want leaf, Pebble's intermediate and Pebble's root", len(resp.TLS.VerifiedChains))
	}
	if !strings.Contains(leaf.Issuer.CommonName, "Pebble") {
		t.Errorf("issued by %q, want Pebble's intermediate", leaf.Issuer)
	}
}

// buildPebble installs Pebble's command into a temporary directory. Without
// the module proxy it skips, or fails under POSTBOX_REQUIRE_SERVICES=1.
func buildPebble(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	cmd := exec.Command("go", "install", "github.com/letsencrypt/pebble/v2/cmd/pebble@"+pebbleVersion)
	cmd.Dir = bin // outside this module: go install pkg@version ignores go.mod anyway
	cmd.Env = append(os.Environ(), "GOBIN="+bin)
	if out, err := cmd.CombinedOutput(); err != nil {
		msg := fmt.Sprintf("cannot build Pebble %s (it comes from the Go module proxy): %v\n%s", pebbleVersion, err, out)
		testenv.Skip(t, "%s", msg)
	}
	return filepath.Join(bin, "pebble")
}

// startPebble runs Pebble on config and waits until its directory answers.
// It returns Pebble's log and a function that stops Pebble (also called
// when the test ends).
func startPebble(t *testing.T, bin, dir string, config map[string]any, dns string, pool *x509.CertPool, acmePort string) (log *syncWriter, stop func()) {
	t.Helper()
	data, err := json.Marshal(config)
	if err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "pebble.json")
	if err := os.WriteFile(cfgFile, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out := &syncWriter{}
	cmd := exec.Command(bin, "-config", cfgFile, "-dnsserver", dns)
	cmd.Dir = dir
	cmd.Env = append(baseEnv(),
		"PEBBLE_VA_NOSLEEP=1",      // validate at once
		"PEBBLE_WFE_NONCEREJECT=0", // no deliberately bad nonces
		"PEBBLE_AUTHZREUSE=0",      // a failed challenge type is not reused
	)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cmd.Process.Kill()
			cmd.Wait()
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("pebble log:\n%s", out.String())
		}
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	eventually(t, 30*time.Second, func() string {
		resp, err := client.Get("https://127.0.0.1:" + acmePort + "/dir")
		if err != nil {
			return "Pebble's directory does not answer: " + err.Error() + "\n" + out.String()
		}
		resp.Body.Close()
		return ""
	})
	return out, stop
}

// pebbleRoots fetches the root Pebble issues under, from its management
// interface.
func pebbleRoots(t *testing.T, mgmtPort string, pool *x509.CertPool) *x509.CertPool {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer client.CloseIdleConnections()
	var roots *x509.CertPool
	eventually(t, 30*time.Second, func() string {
		resp, err := client.Get("https://127.0.0.1:" + mgmtPort + "/roots/0")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		roots = x509.NewCertPool()
		if resp.StatusCode != 200 || !roots.AppendCertsFromPEM(data) {
			return fmt.Sprintf("roots/0: %d %q", resp.StatusCode, data)
		}
		return ""
	})
	return roots
}

// startDNS answers every A query with 127.0.0.1 and every other query with
// no record, over TCP as Pebble asks, and returns its address.
func startDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(30 * time.Second))
				for {
					var n uint16
					if be.Read(c, be.BigEndian, &n) != nil {
						return
					}
					query := make([]byte, n)
					if _, err := io.ReadFull(c, query); err != nil {
						return
					}
					answer, err := dnsAnswer(query)
					if err != nil {
						return
					}
					be.Write(c, be.BigEndian, uint16(len(answer)))
					c.Write(answer)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dnsAnswer builds the response to one DNS query (RFC 1035, 4.1).
func dnsAnswer(q []byte) ([]byte, error) {
	if len(q) < 12 || be.BigEndian.Uint16(q[4:6]) != 1 {
		return nil, errors.New("not a one-question query")
	}
	end := 12
	for end < len(q) && q[end] != 0 {
		end += int(q[end]) + 1
	}
	end += 5 // the root label, QTYPE and QCLASS
	if end > len(q) {
		return nil, errors.New("short question")
	}
	qtype := be.BigEndian.Uint16(q[end-4 : end-2])
	var b bytes.Buffer
	b.Write(q[0:2])                                                 // ID
	be.Write(&b, be.BigEndian, uint16(0x8400|uint16(q[2]&0x01)<<8)) // QR, AA, RD as asked
	ancount := uint16(0)
	if qtype == 1 { // A
		ancount = 1
	}
	be.Write(&b, be.BigEndian, []uint16{1, ancount, 0, 0})
	b.Write(q[12:end])
	if ancount == 1 {
		b.Write([]byte{0xc0, 12})                            // the question's name
		be.Write(&b, be.BigEndian, []uint16{1, 1, 0, 60, 4}) // A, IN, TTL 60, 4 bytes
		b.Write([]byte{127, 0, 0, 1})
	}
	return b.Bytes(), nil
}

// freePort returns a loopback port that was free a moment ago, for servers
// that must know each other's ports before they start.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return port(ln.Addr().String())
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	var n int
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatal(err)
	}
	return n
}

// syncWriter collects a process's output for the test's log.
type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}
