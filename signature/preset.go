package signature

import (
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"time"
)

// secretParams are the parameters of presets that need only the shared
// secret.
type secretParams struct {
	Secrets `yaml:",inline"`
}

// timedParams are the parameters of presets that sign a timestamp: the
// secret and how far the timestamp may be from now.
type timedParams struct {
	Secrets   `yaml:",inline"`
	Tolerance time.Duration `yaml:"tolerance"`
}

// decodeSecrets decodes secretParams and returns the secrets as keys.
func decodeSecrets(decode func(any) error) ([][]byte, error) {
	var p secretParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	list, err := p.List()
	if err != nil {
		return nil, err
	}
	return keysOf(list), nil
}

// decodeTimed decodes timedParams, with def as the default tolerance.
func decodeTimed(decode func(any) error, def time.Duration) ([][]byte, time.Duration, error) {
	var p timedParams
	if err := decode(&p); err != nil {
		return nil, 0, err
	}
	list, err := p.List()
	if err != nil {
		return nil, 0, err
	}
	tol, err := tolerance(p.Tolerance, def)
	if err != nil {
		return nil, 0, err
	}
	return keysOf(list), tol, nil
}

// sha256Hex is the signature of most presets: HMAC-SHA256, hex, in name,
// after prefix.
func sha256Hex(name, prefix string) sigHeader {
	return sigHeader{name: name, prefix: prefix, hash: sha256.New, enc: hexEncoding}
}

// sha256Base64 is HMAC-SHA256, base64, in name, after prefix.
func sha256Base64(name, prefix string) sigHeader {
	return sigHeader{name: name, prefix: prefix, hash: sha256.New, enc: base64Encoding}
}

// textAnswer is a handshake reply of plain text.
func textAnswer(s string) Answer {
	return Answer{Status: 200, Header: http.Header{"Content-Type": {"text/plain; charset=utf-8"}}, Body: []byte(s)}
}

// jsonAnswer is a handshake reply of JSON.
func jsonAnswer(v any) Answer {
	b, _ := json.Marshal(v)
	return Answer{Status: 200, Header: http.Header{"Content-Type": {"application/json"}}, Body: b}
}
