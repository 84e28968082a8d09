package signature_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/signature"
	"gopkg.in/yaml.v3"
)

// BenchmarkVerify measures one verification of the benchmark harness's
// 2 KiB GitHub body: the github preset (HMAC-SHA256, hex), the generic
// hmac scheme configured the same way, and a token for comparison.
func BenchmarkVerify(b *testing.B) {
	body, err := os.ReadFile("../bench/testdata/push.json")
	if err != nil {
		b.Fatal(err)
	}
	const secret = "bench-secret"
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	sig := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	for _, tt := range []struct {
		name, scheme, params string
		header               http.Header
	}{
		{"github", "github", "secret: " + secret,
			http.Header{"X-Hub-Signature-256": {sig}, "X-Github-Delivery": {"72d3162e-cc78-11e3-81ab-4c9367dc0958"}}},
		{"hmac", "hmac", "{header: X-Hub-Signature-256, prefix: sha256=, secret: " + secret + "}",
			http.Header{"X-Hub-Signature-256": {sig}}},
		{"token", "token", "secret: " + secret, http.Header{"X-Token": {secret}}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			v := newVerifier(b, tt.scheme, tt.params)
			r := httptest.NewRequest(http.MethodPost, "/hooks/bench", bytes.NewReader(body))
			r.Header = tt.header
			if err := v.Verify(r, body); err != nil {
				b.Fatalf("the benchmark's request does not verify: %v", err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				if err := v.Verify(r, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// newVerifier builds a verifier from YAML params, as config does.
func newVerifier(b *testing.B, scheme, params string) postbox.Verifier {
	s, ok := signature.Lookup(scheme)
	if !ok {
		b.Fatalf("no scheme %q", scheme)
	}
	v, err := s.New(func(out any) error {
		dec := yaml.NewDecoder(strings.NewReader(params))
		dec.KnownFields(true)
		return dec.Decode(out)
	})
	if err != nil {
		b.Fatalf("%s: %v", scheme, err)
	}
	return v
}
