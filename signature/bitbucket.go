package signature

import "github.com/postbox/postbox"

// Bitbucket checks Bitbucket's X-Hub-Signature (HMAC-SHA256 of the body, hex,
// after "sha256="), as Bitbucket Cloud and Data Center send it when the
// webhook has a secret. The dedup key is X-Request-UUID (Cloud) or
// X-Request-Id (Data Center); X-Hook-UUID names the webhook, not the
// delivery, so it is not used.
var Bitbucket = Scheme{Name: "bitbucket", New: newBitbucket}

func newBitbucket(decode func(any) error) (postbox.Verifier, error) {
	keys, err := decodeSecrets(decode)
	if err != nil {
		return nil, err
	}
	return &macVerifier{
		keys:      keys,
		headers:   []sigHeader{sha256Hex("X-Hub-Signature", "sha256=")},
		message:   bodyOnly,
		idHeaders: []string{"X-Request-UUID", "X-Request-Id"},
		event:     event{"X-Event-Key", "repo:push"},
	}, nil
}
