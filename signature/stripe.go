package signature

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postbox/postbox"
)

// Stripe checks Stripe-Signature: "t=<unix>,v1=<hex>[,v1=...]", each v1 the
// HMAC-SHA256 of "<t>.<body>" keyed with the whole endpoint secret
// ("whsec_..." as it is, not decoded). Any v1 matching any secret passes (Stripe
// sends several while a secret is rolled); t must be within tolerance
// (default 5m). The event id in the body is the dedup key.
var Stripe = Scheme{Name: "stripe", New: newStripe}

type stripeVerifier struct {
	clock
	keys      [][]byte
	tolerance time.Duration
}

func newStripe(decode func(any) error) (postbox.Verifier, error) {
	keys, tol, err := decodeTimed(decode, 300*time.Second)
	if err != nil {
		return nil, err
	}
	return &stripeVerifier{keys: keys, tolerance: tol}, nil
}

// parseStripeSignature reads a Stripe-Signature header: comma-separated
// key=value pairs, t once, v1 any number of times (other schemes, such as
// the test-mode v0, are ignored, and so are v1 values that are not hex).
func parseStripeSignature(s string) (ts string, v1 [][]byte, err error) {
	return parseTimestamped(s, ",", "t", "v1")
}

// parseTimestamped reads a header of sep-separated key=value pairs with a
// timestamp under tsKey (once) and hex HMAC-SHA256 signatures under sigKey
// (any number of times; values that are not one are ignored, as are other
// keys). Stripe-Signature and Paddle-Signature are both of this shape.
func parseTimestamped(s, sep, tsKey, sigKey string) (ts string, sigs [][]byte, err error) {
	for _, item := range strings.Split(s, sep) {
		k, v, ok := strings.Cut(strings.TrimSpace(item), "=")
		if !ok {
			continue
		}
		switch k {
		case tsKey:
			if ts != "" {
				return "", nil, errString(tsKey + "= appears twice")
			}
			ts = v
		case sigKey:
			if b, err := hex.DecodeString(v); err == nil && len(b) == sha256.Size {
				sigs = append(sigs, b)
			}
		}
	}
	switch {
	case ts == "":
		return "", nil, errString("no " + tsKey + "= timestamp")
	case len(sigs) == 0:
		return "", nil, errString("no " + sigKey + "= signature")
	}
	return ts, sigs, nil
}

func (v *stripeVerifier) Verify(r *http.Request, body []byte) error {
	h := r.Header.Get("Stripe-Signature")
	if h == "" {
		return fail("no Stripe-Signature header")
	}
	ts, sigs, err := parseStripeSignature(h)
	if err != nil {
		return fail("Stripe-Signature: %v", err)
	}
	t, err := unixSeconds.parse(ts)
	if err != nil {
		return fail("Stripe-Signature t=%s is not a timestamp", quote(ts))
	}
	if err := v.fresh(t, v.tolerance); err != nil {
		return err
	}
	if !macMatch(v.keys, sha256.New, sigs, []byte(ts), []byte("."), body) {
		return fail("no v1 signature in Stripe-Signature matches the body")
	}
	return nil
}

// DeliveryKey returns the event id ("evt_...") from the body.
func (v *stripeVerifier) DeliveryKey(_ *http.Request, body []byte) string {
	return jsonID(body, "id")
}

// Sign sets Stripe-Signature with one v1 signature.
func (v *stripeVerifier) Sign(m *Message) error {
	ts := strconv.FormatInt(m.now().Unix(), 10)
	sum := macSum(v.keys[0], sha256.New, []byte(ts), []byte("."), m.Body)
	m.set("Stripe-Signature", "t="+ts+",v1="+hex.EncodeToString(sum))
	return nil
}

// errString is an error that is only text, for parsers whose message goes
// into a Detail.
type errString string

func (e errString) Error() string { return string(e) }
