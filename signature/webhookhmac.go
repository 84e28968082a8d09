package signature

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/postbox/postbox"
)

// WebhookHMAC checks signatures as adnanh/webhook's payload-hmac-* trigger
// rules do, for hooks converted from it (postbox import, postbox webhook):
//
//	webhook_hmac: {signatures: [{header: X-Hub-Signature, algorithm: sha1, secret: ...},
//	                            {header: X-Hub-Signature-256, algorithm: sha256, secret: ...}]}
//
// The request passes when any listed signature matches (webhook's `or` of
// signatures). A header's value is hex, with or without the "<algorithm>="
// prefix; a value with commas lists several signatures, each of which must
// then carry the prefix. Prefer hmac: for new hooks: its prefix is exact.
var WebhookHMAC = Scheme{Name: "webhook_hmac", New: newWebhookHMAC}

type webhookSig struct {
	Header    string `yaml:"header"`
	Algorithm string `yaml:"algorithm"`
	Secret    string `yaml:"secret"`
}

type webhookHMACParams struct {
	Signatures []webhookSig `yaml:"signatures"`
}

type webhookHMACVerifier struct {
	sigs []webhookSig
}

func newWebhookHMAC(decode func(any) error) (postbox.Verifier, error) {
	var p webhookHMACParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	var errs []error
	if len(p.Signatures) == 0 {
		errs = append(errs, &postbox.FieldError{Field: "signatures", Message: "is empty; list at least one {header, algorithm, secret}"})
	}
	for i, s := range p.Signatures {
		field := fmt.Sprintf("signatures[%d].", i)
		if s.Header == "" {
			errs = append(errs, &postbox.FieldError{Field: field + "header", Message: "is empty"})
		}
		if _, ok := hashes[strings.ToLower(s.Algorithm)]; !ok {
			errs = append(errs, &postbox.FieldError{Field: field + "algorithm", Message: "must be sha1, sha256 or sha512"})
		}
		if s.Secret == "" {
			errs = append(errs, &postbox.FieldError{Field: field + "secret", Message: "is empty"})
		}
		p.Signatures[i].Header = http.CanonicalHeaderKey(s.Header)
		p.Signatures[i].Algorithm = strings.ToLower(s.Algorithm)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &webhookHMACVerifier{sigs: p.Signatures}, nil
}

// Verify passes when one of the signatures matches the body.
func (v *webhookHMACVerifier) Verify(r *http.Request, body []byte) error {
	present := ""
	for _, s := range v.sigs {
		raw := r.Header.Get(s.Header)
		if raw == "" {
			continue
		}
		present = s.Header
		var got [][]byte
		for _, c := range webhookCandidates(raw, s.Algorithm+"=") {
			if b, err := hex.DecodeString(c); err == nil {
				got = append(got, b)
			}
		}
		if len(got) > 0 && macMatch([][]byte{[]byte(s.Secret)}, hashes[s.Algorithm], got, body) {
			return nil
		}
	}
	if present == "" {
		return fail("no %s header", v.sigs[0].Header)
	}
	return fail("%s does not match the body", present)
}

// webhookCandidates splits a signature header as webhook does: one value,
// its prefix optional; or a comma-separated list, of which only the items
// with the prefix count.
func webhookCandidates(raw, prefix string) []string {
	raw = strings.TrimSpace(raw)
	if !strings.Contains(raw, ",") {
		return []string{strings.TrimPrefix(raw, prefix)}
	}
	var out []string
	for _, p := range strings.Split(raw, ",") {
		if c, ok := strings.CutPrefix(strings.TrimSpace(p), prefix); ok {
			out = append(out, c)
		}
	}
	return out
}
