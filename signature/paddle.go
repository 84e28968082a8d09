package signature

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"

	"github.com/postbox/postbox"
)

// Paddle checks Paddle Billing's Paddle-Signature: "ts=<unix>;h1=<hex>",
// h1 the HMAC-SHA256 of "<ts>:<body>" with the notification destination's
// secret key (several h1 are accepted, as during a key rotation). ts must
// be within tolerance (default 5s, as Paddle advises; raise it if the
// clocks are not in step). notification_id (else event_id) in the body is
// the dedup key.
var Paddle = Scheme{Name: "paddle", New: newPaddle}

type paddleVerifier struct {
	clock
	keys      [][]byte
	tolerance time.Duration
}

func newPaddle(decode func(any) error) (postbox.Verifier, error) {
	keys, tol, err := decodeTimed(decode, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &paddleVerifier{keys: keys, tolerance: tol}, nil
}

// parsePaddleSignature reads a Paddle-Signature header: semicolon-separated
// key=value pairs, ts once, h1 any number of times; h1 values that are not
// hex are ignored, like unknown keys.
func parsePaddleSignature(s string) (ts string, h1 [][]byte, err error) {
	return parseTimestamped(s, ";", "ts", "h1")
}

func (v *paddleVerifier) Verify(r *http.Request, body []byte) error {
	h := r.Header.Get("Paddle-Signature")
	if h == "" {
		return fail("no Paddle-Signature header")
	}
	ts, sigs, err := parsePaddleSignature(h)
	if err != nil {
		return fail("Paddle-Signature: %v", err)
	}
	t, err := unixSeconds.parse(ts)
	if err != nil {
		return fail("Paddle-Signature ts=%s is not a timestamp", quote(ts))
	}
	if err := v.fresh(t, v.tolerance); err != nil {
		return err
	}
	if !macMatch(v.keys, sha256.New, sigs, []byte(ts), []byte(":"), body) {
		return fail("no h1 signature in Paddle-Signature matches the body")
	}
	return nil
}

// DeliveryKey returns the notification id (the same on every retry).
func (v *paddleVerifier) DeliveryKey(_ *http.Request, body []byte) string {
	return jsonID(body, "notification_id", "event_id")
}

// Sign sets Paddle-Signature.
func (v *paddleVerifier) Sign(m *Message) error {
	ts := strconv.FormatInt(m.now().Unix(), 10)
	sum := macSum(v.keys[0], sha256.New, []byte(ts), []byte(":"), m.Body)
	m.set("Paddle-Signature", "ts="+ts+";h1="+hex.EncodeToString(sum))
	return nil
}
