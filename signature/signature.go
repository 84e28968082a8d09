// Package signature proves who sent a request: shared tokens, basic auth,
// generic HMAC, the signature schemes of webhook providers and IP
// allowlists. Each scheme is one Scheme value in one registry (registry.go);
// config decodes a hook's `auth:` block by scheme name.
package signature

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"net/http"

	"github.com/postbox/postbox"
)

// Scheme is one kind of authentication, named by its key under `auth:`.
type Scheme struct {
	Name string
	// New builds a verifier. decode fills a params struct (with yaml tags)
	// from the configuration, rejecting unknown keys. A problem with a
	// parameter is returned as a *postbox.FieldError (Field: the
	// parameter's key, e.g. "secret").
	New func(decode func(params any) error) (postbox.Verifier, error)
}

// Lookup returns the scheme registered under name.
func Lookup(name string) (Scheme, bool) {
	s, ok := registry()[name]
	return s, ok
}

// Names lists the registered scheme names.
func Names() []string {
	var out []string
	for n := range registry() {
		out = append(out, n)
	}
	return out
}

// Challenger is implemented by verifiers that tell a client how to
// authenticate on a 401 (a WWW-Authenticate header value).
type Challenger interface {
	Challenge() string
}

// Redactor is implemented by verifiers whose credentials travel in headers
// or query parameters: those values are replaced by "[redacted]" before a
// delivery is stored, so that the store and console never hold a secret.
type Redactor interface {
	SecretHeaders() []string
	SecretQuery() []string
}

// Identifier is implemented by verifiers of providers that send a delivery
// id (X-GitHub-Delivery, webhook-id, ...): the id becomes the hook's dedup
// key unless the hook sets one itself. "" means none.
type Identifier interface {
	DeliveryKey(r *http.Request, body []byte) string
}

// Answer is a reply a verifier gives in place of storing the request.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Answerer is implemented by verifiers of providers that send handshakes
// (Zoom's endpoint.url_validation, Twitch's webhook_callback_verification,
// Discord's PING): after Verify passed, Answer returns the reply and true
// for such a request, which is then answered without being stored.
type Answerer interface {
	Answer(r *http.Request, body []byte) (Answer, bool)
}

// fail returns the EUNAUTH error every verifier returns; detail goes to logs
// only.
func fail(format string, args ...any) error {
	return &postbox.Error{Code: postbox.EUNAUTH, Message: "authentication failed", Detail: fmt.Sprintf(format, args...)}
}

// equal compares a and b in constant time, whatever their lengths: both are
// hashed first so that the comparison does not leak the secret's length.
func equal(a, b []byte) bool {
	ha, hb := sha256.Sum256(a), sha256.Sum256(b)
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// Secrets is the usual `secret:` / `secrets:` pair: one secret, or several
// while one is being rotated. Any of them verifying passes.
type Secrets struct {
	Secret  string   `yaml:"secret"`
	Secrets []string `yaml:"secrets"`
}

// List returns every configured secret, or a *postbox.FieldError when there is none
// or one is empty.
func (s Secrets) List() ([]string, error) {
	var out []string
	if s.Secret != "" {
		out = append(out, s.Secret)
	}
	for i, v := range s.Secrets {
		if v == "" {
			return nil, &postbox.FieldError{Field: fmt.Sprintf("secrets[%d]", i), Message: "is empty"}
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, &postbox.FieldError{Field: "secret", Message: "is empty"}
	}
	return out, nil
}
