package signature

import (
	"net/http"
	"time"

	"github.com/postbox/postbox"
)

// Slack checks X-Slack-Signature: "v0=" and the hex HMAC-SHA256 of
// "v0:<X-Slack-Request-Timestamp>:<body>" with the app's signing secret; the
// timestamp must be within tolerance (default 5m). The Events API's
// url_verification request is answered with its challenge; event_id in the
// body is the dedup key.
var Slack = Scheme{Name: "slack", New: newSlack}

type slackVerifier struct{ *macVerifier }

func newSlack(decode func(any) error) (postbox.Verifier, error) {
	keys, tol, err := decodeTimed(decode, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	return &slackVerifier{&macVerifier{
		keys:      keys,
		headers:   []sigHeader{sha256Hex("X-Slack-Signature", "v0=")},
		message:   []part{{text: "v0:"}, {kind: timestampPart}, {text: ":"}, {kind: bodyPart}},
		tsHeader:  "X-Slack-Request-Timestamp",
		tsFormat:  unixSeconds,
		tolerance: tol,
		idFields:  []string{"event_id"},
	}}, nil
}

// Answer replies to url_verification with the challenge, as Slack asks.
func (v *slackVerifier) Answer(_ *http.Request, body []byte) (Answer, bool) {
	if t, _ := jsonField(body, "type"); t != "url_verification" {
		return Answer{}, false
	}
	c, _ := jsonField(body, "challenge")
	return textAnswer(c), true
}
