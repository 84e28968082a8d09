package signature

import (
	"net/http"

	"github.com/postbox/postbox"
)

// GitLab checks X-Gitlab-Token, which carries the webhook's secret token
// itself (GitLab does not sign the body), compared in constant time. The
// token is redacted before the delivery is stored. Idempotency-Key (the same
// across retries) or else X-Gitlab-Event-UUID is the dedup key.
var GitLab = Scheme{Name: "gitlab", New: newGitLab}

type gitlabVerifier struct {
	secrets [][]byte
	event
}

func newGitLab(decode func(any) error) (postbox.Verifier, error) {
	keys, err := decodeSecrets(decode)
	if err != nil {
		return nil, err
	}
	return &gitlabVerifier{secrets: keys, event: event{"X-Gitlab-Event", "Push Hook"}}, nil
}

func (v *gitlabVerifier) Verify(r *http.Request, _ []byte) error {
	got := r.Header.Get("X-Gitlab-Token")
	if got == "" {
		return fail("no X-Gitlab-Token header")
	}
	ok := false
	for _, s := range v.secrets {
		if equal([]byte(got), s) {
			ok = true
		}
	}
	if !ok {
		return fail("X-Gitlab-Token does not match")
	}
	return nil
}

// DeliveryKey returns GitLab's id of the event delivery.
func (v *gitlabVerifier) DeliveryKey(r *http.Request, _ []byte) string {
	_, id := firstHeader(r, "Idempotency-Key", "X-Gitlab-Event-UUID")
	return id
}

// SecretHeaders names the header that carries the token.
func (v *gitlabVerifier) SecretHeaders() []string { return []string{"X-Gitlab-Token"} }

// SecretQuery is empty: GitLab sends the token in a header only.
func (v *gitlabVerifier) SecretQuery() []string { return nil }

// Sign sends the token, a fresh event id and the event type.
func (v *gitlabVerifier) Sign(m *Message) error {
	v.event.set(m)
	m.set("X-Gitlab-Token", string(v.secrets[0]))
	m.set("X-Gitlab-Event-UUID", m.id())
	m.set("Idempotency-Key", m.id())
	return nil
}
