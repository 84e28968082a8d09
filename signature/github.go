package signature

import (
	"crypto/sha1"

	"github.com/postbox/postbox"
)

// GitHub checks GitHub's X-Hub-Signature-256 (HMAC-SHA256 of the body, hex,
// after "sha256="). The older X-Hub-Signature (HMAC-SHA1) is accepted only
// with allow_sha1: true, for servers that send nothing else. X-GitHub-Delivery
// is the dedup key.
var GitHub = Scheme{Name: "github", New: newGitHub}

type githubParams struct {
	Secrets   `yaml:",inline"`
	AllowSHA1 bool `yaml:"allow_sha1"`
}

func newGitHub(decode func(any) error) (postbox.Verifier, error) {
	var p githubParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	list, err := p.List()
	if err != nil {
		return nil, err
	}
	v := &macVerifier{
		keys:      keysOf(list),
		headers:   []sigHeader{sha256Hex("X-Hub-Signature-256", "sha256=")},
		message:   bodyOnly,
		idHeaders: []string{"X-GitHub-Delivery"},
		event:     event{"X-GitHub-Event", "push"},
	}
	if p.AllowSHA1 {
		v.headers = append(v.headers, sigHeader{name: "X-Hub-Signature", prefix: "sha1=", hash: sha1.New, enc: hexEncoding})
	}
	return v, nil
}
