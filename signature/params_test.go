package signature

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"

	"github.com/postbox/postbox"
)

func TestBadParametersNameTheirField(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	cases := []struct {
		name, scheme, params, field, msg string
	}{
		{"hmac without header", "hmac", "secret: s", "header", "is empty"},
		{"hmac with md5", "hmac", "{header: X, algorithm: md5, secret: s}", "algorithm", "sha1, sha256 or sha512"},
		{"hmac with base32", "hmac", "{header: X, encoding: base32, secret: s}", "encoding", "hex or base64"},
		{"hmac whose signed template leaves out the body", "hmac", "{header: X, timestamp_header: T, signed: '{{.Timestamp}}', secret: s}", "signed", "must contain {{.Body}}"},
		{"hmac signing a timestamp it has no header for", "hmac", "{header: X, signed: '{{.Timestamp}}.{{.Body}}', secret: s}", "signed", "timestamp_header is not set"},
		{"hmac signing an id it has no header for", "hmac", "{header: X, signed: '{{.ID}}.{{.Body}}', secret: s}", "signed", "id_header is not set"},
		{"hmac with a timestamp_header its signed template leaves out", "hmac", "{header: X, timestamp_header: T, signed: '{{.Body}}', secret: s}", "signed", "timestamp_header T is not signed"},
		{"hmac with an id_header and the default signed template", "hmac", "{header: X, id_header: I, secret: s}", "id_header", "I is not signed"},
		{"hmac with an id_header and a timestamp and the default signed template", "hmac", "{header: X, timestamp_header: T, id_header: I, secret: s}", "id_header", `signed: "{{.ID}}.{{.Timestamp}}.{{.Body}}"`},
		{"hmac with an id_header its signed template leaves out", "hmac", "{header: X, timestamp_header: T, id_header: I, signed: '{{.Timestamp}}.{{.Body}}', secret: s}", "signed", "I is not signed"},
		{"hmac with an unknown placeholder", "hmac", "{header: X, signed: '{{.Payload}}{{.Body}}', secret: s}", "signed", "{{.Payload}}"},
		{"hmac with an unclosed placeholder", "hmac", "{header: X, signed: '{{.Body', secret: s}", "signed", "unclosed"},
		{"hmac with a tolerance and no timestamp", "hmac", "{header: X, tolerance: 1m, secret: s}", "tolerance", "needs timestamp_header"},
		{"a negative tolerance", "stripe", "{secret: whsec_x, tolerance: -1m}", "tolerance", "must not be negative"},
		{"a preset without a secret", "github", "{}", "secret", "is empty"},
		{"an empty secret in a rotation list", "slack", "secrets: [a, '']", "secrets[1]", "is empty"},
		{"Square without its notification url", "square", "secret: s", "url", "is empty"},
		{"Twilio with a relative url", "twilio", "{secret: s, url: /sms}", "url", "absolute"},
		{"Standard Webhooks with a secret that is not base64", "standard_webhooks", "secret: whsec_!!", "secret", "base64"},
		{"Standard Webhooks with a bad second secret", "svix", "{secret: whsec_a2V5, secrets: [whsec_!!]}", "secrets[0]", "base64"},
		{"ip without addresses", "ip", "allow: []", "allow", "is empty"},
		{"ip with something that is not a CIDR", "ip", "allow: [10.0.0.0/8, 10.0.0.0/33]", "allow[1]", "not a CIDR"},
		{"SendGrid without a key", "sendgrid", "{}", "public_key", "is empty"},
		{"SendGrid with an RSA key", "sendgrid", "public_key: " + base64.StdEncoding.EncodeToString(rsaDER), "public_key", "P-256"},
		{"SendGrid with garbage", "sendgrid", "public_key: nope", "public_key", "P-256"},
		{"Discord with a short key", "discord", "public_key: abcd", "public_key", "64 hex digits"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _ := Lookup(c.scheme)
			_, err := s.New(decoderFor(c.params))
			var fe *postbox.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v; want a *postbox.FieldError", err)
			}
			// errors.Join: the config loader reports each; find ours.
			found := false
			for _, e := range unjoin(err) {
				if errors.As(e, &fe) && fe.Field == c.field && strings.Contains(fe.Message, c.msg) {
					found = true
				}
			}
			if !found {
				t.Fatalf("err = %v; want field %s: ...%s...", err, c.field, c.msg)
			}
		})
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestUnknownParametersAndBadDurationsAreRefused(t *testing.T) {
	for _, c := range []struct{ name, scheme, params string }{
		{"a misspelt key", "github", "{secret: s, secert: s}"},
		{"a tolerance without a unit", "stripe", "{secret: whsec_x, tolerance: 300}"},
		{"the ip list in place of the mapping", "ip", "[10.0.0.0/8]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s, _ := Lookup(c.scheme)
			if _, err := s.New(decoderFor(c.params)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestEveryRegisteredSchemeIsFoundByItsName(t *testing.T) {
	for _, n := range Names() {
		s, ok := Lookup(n)
		if !ok || s.Name != n || s.New == nil {
			t.Errorf("Lookup(%q) = %+v, %v", n, s, ok)
		}
	}
}
