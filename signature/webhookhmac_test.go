package signature

import (
	"errors"
	"fmt"

	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"github.com/postbox/postbox"
	"hash"
	"net/http/httptest"
	"strings"
	"testing"
)

func hexMAC(h func() hash.Hash, secret, body string) string {
	m := hmac.New(h, []byte(secret))
	m.Write([]byte(body))
	return hex.EncodeToString(m.Sum(nil))
}

// TestWebhookHMAC checks the signatures adnanh/webhook accepts, and only
// those.
func TestWebhookHMAC(t *testing.T) {
	body := `{"ref":"refs/heads/main"}`
	v := build(t, "webhook_hmac", `{signatures: [{header: X-Hub-Signature, algorithm: sha1, secret: one},
		{header: X-Hub-Signature-256, algorithm: sha256, secret: two}]}`)
	sha1Good, sha256Good := hexMAC(sha1.New, "one", body), hexMAC(sha256.New, "two", body)
	sha1Bad := hexMAC(sha1.New, "other", body)
	for _, tc := range []struct {
		name   string
		header map[string]string
		ok     bool
		detail string
	}{
		{"bare hex is accepted", map[string]string{"X-Hub-Signature": sha1Good}, true, ""},
		{"hex with the algorithm's prefix is accepted", map[string]string{"X-Hub-Signature": "sha1=" + sha1Good}, true, ""},
		{"the second signature of the list alone is accepted", map[string]string{"X-Hub-Signature-256": "sha256=" + sha256Good}, true, ""},
		{"a wrong first signature and a right second one are accepted (or)", map[string]string{"X-Hub-Signature": sha1Bad, "X-Hub-Signature-256": sha256Good}, true, ""},
		{"a comma-separated list with the right one among them is accepted", map[string]string{"X-Hub-Signature": "sha1=" + sha1Bad + ",sha1=" + sha1Good}, true, ""},
		{"in a list, an item without the prefix does not count", map[string]string{"X-Hub-Signature": "sha1=" + sha1Bad + "," + sha1Good}, false, "does not match"},
		{"a wrong signature is refused", map[string]string{"X-Hub-Signature": sha1Bad}, false, "X-Hub-Signature does not match"},
		{"the other algorithm's prefix is refused", map[string]string{"X-Hub-Signature": "sha256=" + sha1Good}, false, "does not match"},
		{"no signature header is refused", nil, false, "no X-Hub-Signature header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/hooks/x", strings.NewReader(body))
			for k, v := range tc.header {
				r.Header.Set(k, v)
			}
			err := v.Verify(r, []byte(body))
			if tc.ok != (err == nil) || err != nil && !strings.Contains(detailOf(err), tc.detail) {
				t.Fatalf("Verify = %v (%s), want ok=%v with %q", err, detailOf(err), tc.ok, tc.detail)
			}
		})
	}
	for _, tc := range []struct{ name, params, want string }{
		{"no signatures", `{signatures: []}`, "signatures is empty"},
		{"an unknown algorithm", `{signatures: [{header: X-S, algorithm: md5, secret: s}]}`, "signatures[0].algorithm must be"},
		{"an empty secret", `{signatures: [{header: X-S, algorithm: sha1}]}`, "signatures[0].secret is empty"},
	} {
		t.Run("refused: "+tc.name, func(t *testing.T) {
			_, err := WebhookHMAC.New(decoderFor(tc.params))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// detailOf is the error's detail, where the reason is.
func detailOf(err error) string {
	var pe *postbox.Error
	if errors.As(err, &pe) {
		return pe.Detail
	}
	return fmt.Sprint(err)
}
