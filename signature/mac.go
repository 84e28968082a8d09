package signature

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"net/http"
	"strings"
	"time"
)

// This file holds the engine behind the generic hmac scheme and the
// provider presets that differ from it only in where things are: which
// header carries the signature, how it is encoded, what message is signed.

// strictBase64 decodes signatures: a signature whose unused trailing bits
// were changed is a different string, and is refused like any other change.
var strictBase64 = base64.StdEncoding.Strict()

// encoding is how a MAC is written in a header.
type encoding int

const (
	hexEncoding encoding = iota
	base64Encoding
)

func (e encoding) String() string {
	if e == base64Encoding {
		return "base64"
	}
	return "hex"
}

func (e encoding) decode(s string) ([]byte, error) {
	if e == base64Encoding {
		return strictBase64.DecodeString(s)
	}
	return hex.DecodeString(s)
}

func (e encoding) encode(b []byte) string {
	if e == base64Encoding {
		return base64.StdEncoding.EncodeToString(b)
	}
	return hex.EncodeToString(b)
}

// sigHeader is one header a signature may arrive in.
type sigHeader struct {
	name   string // canonical header name
	prefix string // e.g. "sha256=", stripped before decoding
	hash   func() hash.Hash
	enc    encoding
}

// partKind is one piece of a signed message.
type partKind int

const (
	literal partKind = iota
	bodyPart
	timestampPart
	idPart
)

type part struct {
	kind partKind
	text string // for literal
}

// bodyOnly is the message of schemes that sign the raw body alone.
var bodyOnly = []part{{kind: bodyPart}}

// macVerifier checks an HMAC of a message made of the body and, optionally,
// a timestamp header and a delivery id header.
type macVerifier struct {
	clock
	keys [][]byte
	// headers lists where the signature may be; the first one present is
	// used (and the first one is what Sign sets).
	headers []sigHeader
	message []part
	// tsHeader, when set, carries a timestamp checked against tolerance.
	tsHeader  string
	tsFormat  timeFormat
	tolerance time.Duration
	// idHeaders carry the provider's delivery id, first present wins: it is
	// the dedup key and, for schemes that sign it, the idPart.
	idHeaders []string
	// idFields are dotted JSON paths to the delivery id in the body, used
	// when no id header is present.
	idFields []string
	// event is the header naming the event type, which Sign sets: a
	// recipe's when: condition reads it.
	event
}

// keysOf turns secrets into HMAC keys, as bytes of the string.
func keysOf(secrets []string) [][]byte {
	keys := make([][]byte, len(secrets))
	for i, s := range secrets {
		keys[i] = []byte(s)
	}
	return keys
}

func (v *macVerifier) Verify(r *http.Request, body []byte) error {
	var h *sigHeader
	var raw string
	for i := range v.headers {
		if s := r.Header.Get(v.headers[i].name); s != "" {
			h, raw = &v.headers[i], strings.TrimSpace(s)
			break
		}
	}
	if h == nil {
		return fail("no %s header", v.headers[0].name)
	}
	if !strings.HasPrefix(raw, h.prefix) {
		return fail("%s does not start with %q", h.name, h.prefix)
	}
	got, err := h.enc.decode(raw[len(h.prefix):])
	if err != nil {
		return fail("%s is not a %s signature", h.name, h.enc)
	}
	var ts, id string
	if v.tsHeader != "" {
		if ts = r.Header.Get(v.tsHeader); ts == "" {
			return fail("no %s header", v.tsHeader)
		}
		t, err := v.tsFormat.parse(ts)
		if err != nil {
			return fail("%s %s is not a timestamp", v.tsHeader, quote(ts))
		}
		if err := v.fresh(t, v.tolerance); err != nil {
			return err
		}
	}
	if v.signsID() {
		if _, id = firstHeader(r, v.idHeaders...); id == "" {
			return fail("no %s header", v.idHeaders[0])
		}
	}
	if !macMatch(v.keys, h.hash, [][]byte{got}, v.parts(body, ts, id)...) {
		return fail("%s does not match the body", h.name)
	}
	return nil
}

func (v *macVerifier) signsID() bool {
	for _, p := range v.message {
		if p.kind == idPart {
			return true
		}
	}
	return false
}

// parts lays out the signed message without copying the body.
func (v *macVerifier) parts(body []byte, ts, id string) [][]byte {
	out := make([][]byte, len(v.message))
	for i, p := range v.message {
		switch p.kind {
		case literal:
			out[i] = []byte(p.text)
		case bodyPart:
			out[i] = body
		case timestampPart:
			out[i] = []byte(ts)
		case idPart:
			out[i] = []byte(id)
		}
	}
	return out
}

// DeliveryKey returns the provider's delivery id, when it sends one.
func (v *macVerifier) DeliveryKey(r *http.Request, body []byte) string {
	if _, id := firstHeader(r, v.idHeaders...); id != "" {
		return id
	}
	return jsonID(body, v.idFields...)
}

// Sign sets the first signature header, the timestamp, the delivery id and
// the event type.
func (v *macVerifier) Sign(m *Message) error {
	v.event.set(m)
	var ts, id string
	if v.tsHeader != "" {
		ts = v.tsFormat.format(m.now())
		m.set(v.tsHeader, ts)
	}
	if len(v.idHeaders) > 0 {
		id = m.id()
		m.set(v.idHeaders[0], id)
	}
	h := v.headers[0]
	sum := macSum(v.keys[0], h.hash, v.parts(m.Body, ts, id)...)
	m.set(h.name, h.prefix+h.enc.encode(sum))
	return nil
}

// macSum returns the HMAC of the concatenated parts under key.
func macSum(key []byte, h func() hash.Hash, parts ...[]byte) []byte {
	m := hmac.New(h, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// macMatch reports whether any of got is the HMAC of parts under any of
// keys. Every pair is compared in constant time and none is skipped, so
// timing does not tell which key or signature matched.
func macMatch(keys [][]byte, h func() hash.Hash, got [][]byte, parts ...[]byte) bool {
	ok := 0
	for _, key := range keys {
		sum := macSum(key, h, parts...)
		for _, g := range got {
			if hmac.Equal(sum, g) {
				ok = 1
			}
		}
	}
	return ok == 1
}
