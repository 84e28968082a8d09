package signature

import "github.com/postbox/postbox"

// Typeform checks Typeform-Signature: "sha256=" and the base64 HMAC-SHA256
// of the body. The response's event_id in the body is the dedup key.
var Typeform = Scheme{Name: "typeform", New: newTypeform}

func newTypeform(decode func(any) error) (postbox.Verifier, error) {
	keys, err := decodeSecrets(decode)
	if err != nil {
		return nil, err
	}
	return &macVerifier{
		keys:     keys,
		headers:  []sigHeader{sha256Base64("Typeform-Signature", "sha256=")},
		message:  bodyOnly,
		idFields: []string{"event_id"},
	}, nil
}
