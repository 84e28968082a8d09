package signature

import (
	"bytes"
	"net/http"
	"time"

	"github.com/postbox/postbox"
)

// Linear checks Linear-Signature (HMAC-SHA256 of the body, hex) and the
// webhookTimestamp (unix milliseconds) inside the JSON body, which must be
// within tolerance (default 1m, as Linear advises). Linear-Delivery is the
// dedup key; webhookId in the body names the webhook, not the delivery.
var Linear = Scheme{Name: "linear", New: newLinear}

type linearVerifier struct{ *macVerifier }

func newLinear(decode func(any) error) (postbox.Verifier, error) {
	keys, tol, err := decodeTimed(decode, time.Minute)
	if err != nil {
		return nil, err
	}
	return &linearVerifier{&macVerifier{
		keys:      keys,
		headers:   []sigHeader{sha256Hex("Linear-Signature", "")},
		message:   bodyOnly,
		tolerance: tol,
		idHeaders: []string{"Linear-Delivery"},
	}}, nil
}

// Verify checks the signature first: the timestamp is only worth reading
// from a body known to come from Linear.
func (v *linearVerifier) Verify(r *http.Request, body []byte) error {
	if err := v.macVerifier.Verify(r, body); err != nil {
		return err
	}
	ts, ok := jsonField(body, "webhookTimestamp")
	if !ok {
		return fail("no webhookTimestamp in the body")
	}
	t, err := unixMillis.parse(ts)
	if err != nil {
		return fail("webhookTimestamp %s is not a timestamp", quote(ts))
	}
	return v.fresh(t, v.tolerance)
}

// Sign adds webhookTimestamp to a JSON object body that lacks it, then signs.
func (v *linearVerifier) Sign(m *Message) error {
	if _, ok := jsonField(m.Body, "webhookTimestamp"); !ok {
		b := bytes.TrimSpace(m.Body)
		if len(b) == 0 || b[0] != '{' || !isJSON(b) {
			return fail("linear signs a JSON object body, which carries webhookTimestamp")
		}
		field := `"webhookTimestamp":` + unixMillis.format(m.now())
		if rest := bytes.TrimSpace(b[1:]); len(rest) > 0 && rest[0] != '}' {
			field += ","
		}
		m.Body = append([]byte("{"+field), b[1:]...)
	}
	return v.macVerifier.Sign(m)
}
