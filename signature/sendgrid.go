package signature

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"strings"
	"time"

	"github.com/postbox/postbox"
)

// SendGrid checks the Event Webhook's signature: an ECDSA P-256 signature
// (base64 ASN.1 DER, in X-Twilio-Email-Event-Webhook-Signature) of the SHA-256
// of X-Twilio-Email-Event-Webhook-Timestamp followed by the body, under the
// verification key SendGrid shows (public_key: base64 DER, or PEM). The
// timestamp must be within tolerance (default 5m). There is no shared
// secret, so `postbox sign` cannot sign for it.
var SendGrid = Scheme{Name: "sendgrid", New: newSendGrid}

type publicKeyParams struct {
	PublicKey string        `yaml:"public_key"`
	Tolerance time.Duration `yaml:"tolerance"`
}

type sendgridVerifier struct {
	clock
	key       *ecdsa.PublicKey
	tolerance time.Duration
}

const (
	sendgridSignature = "X-Twilio-Email-Event-Webhook-Signature"
	sendgridTimestamp = "X-Twilio-Email-Event-Webhook-Timestamp"
)

func newSendGrid(decode func(any) error) (postbox.Verifier, error) {
	var p publicKeyParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	bad := &postbox.FieldError{Field: "public_key", Message: "is not a P-256 public key (base64 DER or PEM, as SendGrid shows it)"}
	if strings.TrimSpace(p.PublicKey) == "" {
		return nil, &postbox.FieldError{Field: "public_key", Message: "is empty"}
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(p.PublicKey))
	if blk, _ := pem.Decode([]byte(p.PublicKey)); blk != nil {
		der, err = blk.Bytes, nil
	}
	if err != nil {
		return nil, bad
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, bad
	}
	key, ok := pub.(*ecdsa.PublicKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, bad
	}
	tol, err := tolerance(p.Tolerance, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	return &sendgridVerifier{key: key, tolerance: tol}, nil
}

func (v *sendgridVerifier) Verify(r *http.Request, body []byte) error {
	sig, ts := r.Header.Get(sendgridSignature), r.Header.Get(sendgridTimestamp)
	switch {
	case sig == "":
		return fail("no %s header", sendgridSignature)
	case ts == "":
		return fail("no %s header", sendgridTimestamp)
	}
	der, err := strictBase64.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return fail("%s is not base64", sendgridSignature)
	}
	t, err := unixSeconds.parse(ts)
	if err != nil {
		return fail("%s %s is not a timestamp", sendgridTimestamp, quote(ts))
	}
	if err := v.fresh(t, v.tolerance); err != nil {
		return err
	}
	h := sha256.New()
	h.Write([]byte(ts))
	h.Write(body)
	if !ecdsa.VerifyASN1(v.key, h.Sum(nil), der) {
		return fail("%s does not match the body", sendgridSignature)
	}
	return nil
}
