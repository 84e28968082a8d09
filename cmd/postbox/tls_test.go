package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writePair writes a self-signed certificate named cn and its key.
func writePair(t *testing.T, certFile, keyFile, cn string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCertFilesReload replaces the certificate files under a running
// server's feet, as certbot's renewal does, and checks which certificate
// handshakes get.
func TestCertFilesReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writePair(t, certFile, keyFile, "first.example.org")
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var log bytes.Buffer
	c := &certFiles{cert: certFile, key: keyFile, logger: slog.New(slog.NewTextHandler(&log, nil)), now: func() time.Time { return clock }}
	if err := c.load(); err != nil {
		t.Fatal(err)
	}
	served := func() string {
		t.Helper()
		pair, err := c.get(nil)
		if err != nil {
			t.Fatal(err)
		}
		return pair.Leaf.Subject.CommonName
	}
	if got := served(); got != "first.example.org" {
		t.Fatalf("served %s, want first.example.org", got)
	}

	writePair(t, certFile, keyFile, "second.example.org")
	clock = clock.Add(recheck / 2)
	if got := served(); got != "first.example.org" {
		t.Errorf("within the recheck interval served %s, want the files not read again", got)
	}
	clock = clock.Add(recheck)
	if got := served(); got != "second.example.org" {
		t.Errorf("after a renewal served %s, want second.example.org", got)
	}

	// A half-written renewal: the key does not match the certificate.
	writePair(t, certFile, filepath.Join(dir, "other-key.pem"), "third.example.org")
	clock = clock.Add(recheck)
	if got := served(); got != "second.example.org" {
		t.Errorf("with a broken pair served %s, want the previous certificate kept", got)
	}
	if !strings.Contains(log.String(), "certificate files changed but do not load") {
		t.Errorf("a broken pair was not logged:\n%s", log.String())
	}
}
