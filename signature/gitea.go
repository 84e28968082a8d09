package signature

import "github.com/postbox/postbox"

// Gitea checks Gitea's X-Gitea-Signature (HMAC-SHA256 of the body, hex, no
// prefix); X-Hub-Signature-256, which newer versions also send, is accepted
// too. X-Gitea-Delivery is the dedup key.
var Gitea = Scheme{Name: "gitea", New: newGitea("Gitea")}

// Forgejo is Gitea's scheme under Forgejo's header names
// (X-Forgejo-Signature, X-Forgejo-Delivery); the Gitea names, which Forgejo
// still sends, are accepted too.
var Forgejo = Scheme{Name: "forgejo", New: newGitea("Forgejo")}

func newGitea(brand string) func(func(any) error) (postbox.Verifier, error) {
	other := "Forgejo"
	if brand == other {
		other = "Gitea"
	}
	return func(decode func(any) error) (postbox.Verifier, error) {
		keys, err := decodeSecrets(decode)
		if err != nil {
			return nil, err
		}
		return &macVerifier{
			keys: keys,
			headers: []sigHeader{
				sha256Hex("X-"+brand+"-Signature", ""),
				sha256Hex("X-"+other+"-Signature", ""),
				sha256Hex("X-Hub-Signature-256", "sha256="),
			},
			message:   bodyOnly,
			idHeaders: []string{"X-" + brand + "-Delivery", "X-" + other + "-Delivery"},
			event:     event{"X-" + brand + "-Event", "push"},
		}, nil
	}
}
