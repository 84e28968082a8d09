package signature

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/postbox/postbox"
)

// Zoom checks x-zm-signature: "v0=" and the hex HMAC-SHA256 of
// "v0:<x-zm-request-timestamp>:<body>" with the app's secret token; the
// timestamp must be within tolerance (default 5m). The endpoint.url_validation
// request is answered with {"plainToken", "encryptedToken"} as Zoom expects,
// without being stored.
var Zoom = Scheme{Name: "zoom", New: newZoom}

type zoomVerifier struct{ *macVerifier }

func newZoom(decode func(any) error) (postbox.Verifier, error) {
	keys, tol, err := decodeTimed(decode, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	return &zoomVerifier{&macVerifier{
		keys:      keys,
		headers:   []sigHeader{sha256Hex("X-Zm-Signature", "v0=")},
		message:   []part{{text: "v0:"}, {kind: timestampPart}, {text: ":"}, {kind: bodyPart}},
		tsHeader:  "X-Zm-Request-Timestamp",
		tsFormat:  unixSeconds,
		tolerance: tol,
	}}, nil
}

// Answer replies to endpoint.url_validation: the plain token and its
// HMAC-SHA256 (hex) under the first secret.
func (v *zoomVerifier) Answer(_ *http.Request, body []byte) (Answer, bool) {
	if e, _ := jsonField(body, "event"); e != "endpoint.url_validation" {
		return Answer{}, false
	}
	plain, _ := jsonField(body, "payload", "plainToken")
	enc := hex.EncodeToString(macSum(v.keys[0], sha256.New, []byte(plain)))
	return jsonAnswer(map[string]string{"plainToken": plain, "encryptedToken": enc}), true
}
