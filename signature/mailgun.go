package signature

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/postbox/postbox"
)

// Mailgun checks the signature Mailgun puts in the body rather than a
// header: in a JSON webhook, signature.timestamp, signature.token and
// signature.signature; in a form post (routes, legacy webhooks), the fields
// timestamp, token and signature. The signature is the hex HMAC-SHA256 of
// timestamp followed by token, keyed with the HTTP webhook signing key; the
// timestamp must be within tolerance (default 5m). event-data.id is the
// dedup key.
var Mailgun = Scheme{Name: "mailgun", New: newMailgun}

type mailgunVerifier struct {
	clock
	keys      [][]byte
	tolerance time.Duration
}

func newMailgun(decode func(any) error) (postbox.Verifier, error) {
	keys, tol, err := decodeTimed(decode, 5*time.Minute)
	if err != nil {
		return nil, err
	}
	return &mailgunVerifier{keys: keys, tolerance: tol}, nil
}

// mailgunFields finds timestamp, token and signature in a JSON or form body.
func mailgunFields(r *http.Request, body []byte) (ts, token, sig string, ok bool) {
	if sig, ok = jsonField(body, "signature", "signature"); ok {
		ts, _ = jsonField(body, "signature", "timestamp")
		token, _ = jsonField(body, "signature", "token")
		return ts, token, sig, true
	}
	form := formValues(r.Header.Get("Content-Type"), body)
	if form.Get("signature") == "" {
		return "", "", "", false
	}
	return form.Get("timestamp"), form.Get("token"), form.Get("signature"), true
}

func (v *mailgunVerifier) Verify(r *http.Request, body []byte) error {
	ts, token, sig, ok := mailgunFields(r, body)
	switch {
	case !ok:
		return fail("no signature in the body (signature.signature in JSON, signature in a form)")
	case ts == "":
		return fail("no signature timestamp in the body")
	case token == "":
		return fail("no signature token in the body")
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return fail("the body's signature is not hex")
	}
	t, err := unixSeconds.parse(ts)
	if err != nil {
		return fail("signature timestamp %s is not a timestamp", quote(ts))
	}
	if err := v.fresh(t, v.tolerance); err != nil {
		return err
	}
	if !macMatch(v.keys, sha256.New, [][]byte{got}, []byte(ts), []byte(token)) {
		return fail("the body's signature does not match its timestamp and token")
	}
	return nil
}

// DeliveryKey returns the event id of a JSON webhook.
func (v *mailgunVerifier) DeliveryKey(_ *http.Request, body []byte) string {
	return jsonID(body, "event-data.id")
}

// Sign puts a fresh signature into the body: the signature object of a JSON
// object body, or the three fields of a form body.
func (v *mailgunVerifier) Sign(m *Message) error {
	var tok [25]byte
	rand.Read(tok[:])
	ts, token := unixSeconds.format(m.now()), hex.EncodeToString(tok[:])
	sig := hex.EncodeToString(macSum(v.keys[0], sha256.New, []byte(ts), []byte(token)))
	if isJSON(m.Body) {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(m.Body, &obj); err != nil {
			return fail("mailgun signs a JSON object or a form body")
		}
		obj["signature"], _ = json.Marshal(map[string]string{"timestamp": ts, "token": token, "signature": sig})
		m.Body, _ = json.Marshal(obj)
		m.set("Content-Type", "application/json")
		return nil
	}
	form, err := url.ParseQuery(string(m.Body))
	if err != nil {
		return fail("mailgun signs a JSON object or a form body")
	}
	form.Set("timestamp", ts)
	form.Set("token", token)
	form.Set("signature", sig)
	m.Body = []byte(form.Encode())
	m.set("Content-Type", "application/x-www-form-urlencoded")
	return nil
}
