package signature

import (
	"net/http"
	"time"

	"github.com/postbox/postbox"
)

// Twitch checks EventSub's Twitch-Eventsub-Message-Signature: "sha256=" and
// the hex HMAC-SHA256 of message id + timestamp + body, the id and the
// RFC 3339 timestamp taken from Twitch-Eventsub-Message-Id and
// Twitch-Eventsub-Message-Timestamp; the timestamp must be within tolerance
// (default 10m). webhook_callback_verification is answered with the
// challenge as text/plain. The message id is the dedup key.
var Twitch = Scheme{Name: "twitch", New: newTwitch}

type twitchVerifier struct{ *macVerifier }

func newTwitch(decode func(any) error) (postbox.Verifier, error) {
	keys, tol, err := decodeTimed(decode, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	return &twitchVerifier{&macVerifier{
		keys:      keys,
		headers:   []sigHeader{sha256Hex("Twitch-Eventsub-Message-Signature", "sha256=")},
		message:   []part{{kind: idPart}, {kind: timestampPart}, {kind: bodyPart}},
		tsHeader:  "Twitch-Eventsub-Message-Timestamp",
		tsFormat:  rfc3339,
		tolerance: tol,
		idHeaders: []string{"Twitch-Eventsub-Message-Id"},
		event:     event{"Twitch-Eventsub-Message-Type", "notification"},
	}}, nil
}

// Answer replies to webhook_callback_verification with the challenge.
func (v *twitchVerifier) Answer(r *http.Request, body []byte) (Answer, bool) {
	if r.Header.Get("Twitch-Eventsub-Message-Type") != "webhook_callback_verification" {
		return Answer{}, false
	}
	c, _ := jsonField(body, "challenge")
	return textAnswer(c), true
}
