package httpcall

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/postbox/postbox"
)

// SignConfig is the `sign:` block of an http action: exactly one of its
// fields is set.
type SignConfig struct {
	// StandardWebhooks signs as https://www.standardwebhooks.com specifies:
	// webhook-id, webhook-timestamp and webhook-signature headers.
	StandardWebhooks *StandardWebhooksConfig `yaml:"standard_webhooks"`
	// HMAC puts an HMAC of the body in one header.
	HMAC *HMACConfig `yaml:"hmac"`
}

// StandardWebhooksConfig is `sign: {standard_webhooks: {...}}`.
type StandardWebhooksConfig struct {
	// Secret is the base64 key, usually written with a whsec_ prefix.
	Secret string `yaml:"secret"`
}

// HMACConfig is `sign: {hmac: {...}}`: the header Header carries
// Prefix + Encoding(HMAC-Algorithm(Secret, body)).
type HMACConfig struct {
	Header    string `yaml:"header"`    // e.g. X-Hub-Signature-256; required
	Algorithm string `yaml:"algorithm"` // sha256 (default), sha1 or sha512
	Encoding  string `yaml:"encoding"`  // hex (default) or base64
	Prefix    string `yaml:"prefix"`    // e.g. "sha256="; empty by default
	Secret    string `yaml:"secret"`    // the key, as written; required
}

// signer adds a signature of body to h. id is the delivery's id and now the
// time of the call.
type signer interface {
	sign(h http.Header, id string, now time.Time, body []byte)
}

var hashes = map[string]func() hash.Hash{"sha256": sha256.New, "sha1": sha1.New, "sha512": sha512.New}

func newSigner(c SignConfig) (signer, error) {
	switch {
	case c.StandardWebhooks != nil && c.HMAC != nil:
		return nil, &postbox.FieldError{Field: "sign", Message: "must have one of standard_webhooks or hmac, not both"}
	case c.StandardWebhooks != nil:
		key, err := standardWebhooksKey(c.StandardWebhooks.Secret)
		if err != nil {
			return nil, &postbox.FieldError{Field: "sign.standard_webhooks.secret", Message: err.Error()}
		}
		return standardWebhooks{key}, nil
	case c.HMAC != nil:
		return newHMACSigner(*c.HMAC)
	default:
		return nil, &postbox.FieldError{Field: "sign", Message: "must have one of standard_webhooks or hmac"}
	}
}

// standardWebhooksKey decodes a Standard Webhooks secret: base64, with an
// optional whsec_ prefix.
func standardWebhooksKey(secret string) ([]byte, error) {
	s := strings.TrimSpace(secret)
	if s == "" {
		return nil, errors.New("is empty")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
	if err != nil {
		return nil, errors.New("is not a whsec_ secret: the part after whsec_ must be base64")
	}
	if len(key) == 0 {
		return nil, errors.New("has an empty key after whsec_")
	}
	return key, nil
}

// standardWebhooks signs "id.timestamp.body" with HMAC-SHA256.
type standardWebhooks struct{ key []byte }

func (s standardWebhooks) sign(h http.Header, id string, now time.Time, body []byte) {
	ts := strconv.FormatInt(now.Unix(), 10)
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	h.Set("Webhook-Id", id)
	h.Set("Webhook-Timestamp", ts)
	h.Set("Webhook-Signature", "v1,"+base64.StdEncoding.EncodeToString(m.Sum(nil)))
}

type hmacSigner struct {
	header string
	hash   func() hash.Hash
	encode func([]byte) string
	prefix string
	secret []byte
}

func newHMACSigner(c HMACConfig) (signer, error) {
	var errs []error
	s := &hmacSigner{header: http.CanonicalHeaderKey(c.Header), prefix: c.Prefix, secret: []byte(c.Secret)}
	switch {
	case c.Header == "":
		errs = append(errs, &postbox.FieldError{Field: "sign.hmac.header", Message: "is empty"})
	case !isToken(c.Header):
		errs = append(errs, &postbox.FieldError{Field: "sign.hmac.header", Message: fmt.Sprintf("%q is not a valid header name", c.Header)})
	}
	alg := strings.ToLower(c.Algorithm)
	if alg == "" {
		alg = "sha256"
	}
	if s.hash = hashes[alg]; s.hash == nil {
		errs = append(errs, &postbox.FieldError{Field: "sign.hmac.algorithm", Message: fmt.Sprintf("%q is not one of sha256, sha1, sha512", c.Algorithm)})
	}
	switch strings.ToLower(c.Encoding) {
	case "", "hex":
		s.encode = hex.EncodeToString
	case "base64":
		s.encode = base64.StdEncoding.EncodeToString
	default:
		errs = append(errs, &postbox.FieldError{Field: "sign.hmac.encoding", Message: fmt.Sprintf("%q is not one of hex, base64", c.Encoding)})
	}
	if c.Secret == "" {
		errs = append(errs, &postbox.FieldError{Field: "sign.hmac.secret", Message: "is empty"})
	}
	if strings.ContainsAny(c.Prefix, "\r\n") {
		errs = append(errs, &postbox.FieldError{Field: "sign.hmac.prefix", Message: "must not contain a line break"})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

func (s *hmacSigner) sign(h http.Header, _ string, _ time.Time, body []byte) {
	m := hmac.New(s.hash, s.secret)
	m.Write(body)
	h.Set(s.header, s.prefix+s.encode(m.Sum(nil)))
}
