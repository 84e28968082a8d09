package signature

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/postbox/postbox"
)

// StandardWebhooks checks the Standard Webhooks signature (as sent by Svix
// and the services built on it): webhook-signature lists space-separated
// "v1,<base64>" signatures, each the HMAC-SHA256 of
// "<webhook-id>.<webhook-timestamp>.<body>". The key is the secret with its
// "whsec_" prefix stripped, base64-decoded. The timestamp must be within
// tolerance (default 5m). Svix's svix-id, svix-timestamp and svix-signature
// headers are accepted too. webhook-id is the dedup key.
var StandardWebhooks = Scheme{Name: "standard_webhooks", New: newStandardWebhooks("webhook-")}

// Svix is StandardWebhooks under the name of its best-known sender; it signs
// with the svix- headers.
var Svix = Scheme{Name: "svix", New: newStandardWebhooks("svix-")}

type standardVerifier struct {
	clock
	keys      [][]byte
	tolerance time.Duration
	prefix    string // header prefix Sign uses
}

func newStandardWebhooks(prefix string) func(func(any) error) (postbox.Verifier, error) {
	return func(decode func(any) error) (postbox.Verifier, error) {
		var p timedParams
		if err := decode(&p); err != nil {
			return nil, err
		}
		list, err := p.List()
		if err != nil {
			return nil, err
		}
		tol, err := tolerance(p.Tolerance, 5*time.Minute)
		if err != nil {
			return nil, err
		}
		v := &standardVerifier{tolerance: tol, prefix: prefix}
		for i, s := range list {
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
			if err != nil || len(key) == 0 {
				field := "secret"
				if p.Secret == "" {
					field = fmt.Sprintf("secrets[%d]", i)
				} else if i > 0 {
					field = fmt.Sprintf("secrets[%d]", i-1)
				}
				return nil, &postbox.FieldError{Field: field, Message: "is not whsec_ followed by base64"}
			}
			v.keys = append(v.keys, key)
		}
		return v, nil
	}
}

// parseSignatureList reads a webhook-signature header: space-separated
// "version,base64" entries. Only v1 (HMAC-SHA256) entries are returned;
// others (v1a, the asymmetric variant) and malformed ones are ignored.
func parseSignatureList(s string) [][]byte {
	var out [][]byte
	for _, item := range strings.Fields(s) {
		version, sig, ok := strings.Cut(item, ",")
		if !ok || version != "v1" {
			continue
		}
		if b, err := strictBase64.DecodeString(sig); err == nil && len(b) == sha256.Size {
			out = append(out, b)
		}
	}
	return out
}

// headers returns the prefix of the header set r carries.
func (v *standardVerifier) headers(r *http.Request) string {
	if r.Header.Get("webhook-signature") == "" && r.Header.Get("svix-signature") != "" {
		return "svix-"
	}
	return "webhook-"
}

func (v *standardVerifier) Verify(r *http.Request, body []byte) error {
	p := v.headers(r)
	id, ts, sig := r.Header.Get(p+"id"), r.Header.Get(p+"timestamp"), r.Header.Get(p+"signature")
	switch {
	case sig == "":
		return fail("no %ssignature header", p)
	case id == "":
		return fail("no %sid header", p)
	case ts == "":
		return fail("no %stimestamp header", p)
	}
	t, err := unixSeconds.parse(ts)
	if err != nil {
		return fail("%stimestamp %s is not a timestamp", p, quote(ts))
	}
	if err := v.fresh(t, v.tolerance); err != nil {
		return err
	}
	sigs := parseSignatureList(sig)
	if len(sigs) == 0 {
		return fail("no v1 signature in %ssignature", p)
	}
	if !macMatch(v.keys, sha256.New, sigs, []byte(id), []byte("."), []byte(ts), []byte("."), body) {
		return fail("no v1 signature in %ssignature matches the body", p)
	}
	return nil
}

// DeliveryKey returns webhook-id (or svix-id), the same on every retry.
func (v *standardVerifier) DeliveryKey(r *http.Request, _ []byte) string {
	_, id := firstHeader(r, "webhook-id", "svix-id")
	return id
}

// Sign sets the id, timestamp and signature headers.
func (v *standardVerifier) Sign(m *Message) error {
	id, ts := m.id(), unixSeconds.format(m.now())
	sum := macSum(v.keys[0], sha256.New, []byte(id), []byte("."), []byte(ts), []byte("."), m.Body)
	m.set(v.prefix+"id", id)
	m.set(v.prefix+"timestamp", ts)
	m.set(v.prefix+"signature", "v1,"+base64.StdEncoding.EncodeToString(sum))
	return nil
}
