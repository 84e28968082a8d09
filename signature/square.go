package signature

import "github.com/postbox/postbox"

// Square checks x-square-hmacsha256-signature: the base64 HMAC-SHA256 of the
// notification URL followed by the body, with the subscription's signature
// key. url is required: it must be the notification URL exactly as entered
// at Square, which behind a proxy differs from the URL postbox sees. The
// event_id in the body is the dedup key.
var Square = Scheme{Name: "square", New: newSquare}

type squareParams struct {
	Secrets `yaml:",inline"`
	URL     string `yaml:"url"`
}

func newSquare(decode func(any) error) (postbox.Verifier, error) {
	var p squareParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	list, err := p.List()
	if err != nil {
		return nil, err
	}
	if p.URL == "" {
		return nil, &postbox.FieldError{Field: "url", Message: "is empty; set the notification URL exactly as entered at Square"}
	}
	return &macVerifier{
		keys:     keysOf(list),
		headers:  []sigHeader{sha256Base64("X-Square-Hmacsha256-Signature", "")},
		message:  []part{{text: p.URL}, {kind: bodyPart}},
		idFields: []string{"event_id"},
	}, nil
}
