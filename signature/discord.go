package signature

import (
	"crypto/ed25519"
	"encoding/hex"
	"net/http"
	"strings"
	"time"

	"github.com/postbox/postbox"
)

// Discord checks an interactions endpoint request: X-Signature-Ed25519 is
// the hex Ed25519 signature of X-Signature-Timestamp followed by the body,
// under the application's public key (public_key, hex). The timestamp must
// be within tolerance (default 5m). A PING ({"type":1}) is answered with
// {"type":1} without being stored; the interaction id is the dedup key.
var Discord = Scheme{Name: "discord", New: newDiscord}

type discordVerifier struct {
	clock
	key       ed25519.PublicKey
	tolerance time.Duration
}

func newDiscord(decode func(any) error) (postbox.Verifier, error) {
	var p publicKeyParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(p.PublicKey))
	switch {
	case p.PublicKey == "":
		return nil, &postbox.FieldError{Field: "public_key", Message: "is empty"}
	case err != nil || len(key) != ed25519.PublicKeySize:
		return nil, &postbox.FieldError{Field: "public_key", Message: "is not an Ed25519 public key: 64 hex digits, as the Discord developer portal shows it"}
	}
	tol, err := tolerance(p.Tolerance, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	return &discordVerifier{key: key, tolerance: tol}, nil
}

func (v *discordVerifier) Verify(r *http.Request, body []byte) error {
	sig, ts := r.Header.Get("X-Signature-Ed25519"), r.Header.Get("X-Signature-Timestamp")
	switch {
	case sig == "":
		return fail("no X-Signature-Ed25519 header")
	case ts == "":
		return fail("no X-Signature-Timestamp header")
	}
	got, err := hex.DecodeString(strings.TrimSpace(sig))
	if err != nil || len(got) != ed25519.SignatureSize {
		return fail("X-Signature-Ed25519 is not a hex Ed25519 signature")
	}
	t, err := unixSeconds.parse(ts)
	if err != nil {
		return fail("X-Signature-Timestamp %s is not a timestamp", quote(ts))
	}
	if err := v.fresh(t, v.tolerance); err != nil {
		return err
	}
	msg := make([]byte, 0, len(ts)+len(body))
	msg = append(append(msg, ts...), body...)
	if !ed25519.Verify(v.key, msg, got) {
		return fail("X-Signature-Ed25519 does not match the body")
	}
	return nil
}

// DeliveryKey returns the interaction id.
func (v *discordVerifier) DeliveryKey(_ *http.Request, body []byte) string {
	return jsonID(body, "id")
}

// Answer replies to a PING with a PONG ({"type":1}).
func (v *discordVerifier) Answer(_ *http.Request, body []byte) (Answer, bool) {
	if t, _ := jsonField(body, "type"); t != "1" {
		return Answer{}, false
	}
	return jsonAnswer(map[string]int{"type": 1}), true
}
