package signature

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"maps"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/postbox/postbox"
)

// Twilio checks X-Twilio-Signature: the base64 HMAC-SHA1, keyed with the
// account's auth token, of the full URL Twilio requested followed, for a
// form body, by every form parameter as name+value sorted by name. For a
// JSON body Twilio adds bodySHA256 (hex SHA-256 of the body) to the URL and
// signs the URL alone; postbox checks both.
//
// Behind a proxy the URL postbox sees is not the one Twilio signed: set url
// to the public URL as configured at Twilio (its query string, if it has
// none, is taken from the request). Without url the URL is rebuilt from the
// request (https only when postbox itself terminated TLS). Both the form
// with and without the default port are accepted, as Twilio's own libraries
// do. I-Twilio-Idempotency-Token is the dedup key.
var Twilio = Scheme{Name: "twilio", New: newTwilio}

type urlParams struct {
	Secrets `yaml:",inline"`
	URL     string `yaml:"url"`
}

type twilioVerifier struct {
	keys [][]byte
	url  string
}

func newTwilio(decode func(any) error) (postbox.Verifier, error) {
	var p urlParams
	if err := decode(&p); err != nil {
		return nil, err
	}
	list, err := p.List()
	if err != nil {
		return nil, err
	}
	if p.URL != "" {
		if u, err := url.Parse(p.URL); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return nil, &postbox.FieldError{Field: "url", Message: "must be an absolute http or https URL, the one configured at Twilio"}
		}
	}
	return &twilioVerifier{keys: keysOf(list), url: p.URL}, nil
}

// signedURL is the URL Twilio signed for r.
func (v *twilioVerifier) signedURL(r *http.Request) string {
	if v.url != "" {
		if !strings.Contains(v.url, "?") && r.URL.RawQuery != "" {
			return v.url + "?" + r.URL.RawQuery
		}
		return v.url
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.RequestURI()
}

// portVariants returns u and u with its default port added or removed.
func portVariants(s string) []string {
	u, err := url.Parse(s)
	if err != nil {
		return []string{s}
	}
	def := map[string]string{"http": "80", "https": "443"}[u.Scheme]
	switch {
	case def == "":
		return []string{s}
	case u.Port() == "":
		u.Host = net.JoinHostPort(u.Hostname(), def)
	case u.Port() == def:
		u.Host = u.Hostname()
		if strings.Contains(u.Host, ":") {
			u.Host = "[" + u.Host + "]"
		}
	default:
		return []string{s}
	}
	return []string{s, u.String()}
}

// formSuffix is the sorted name+value text Twilio appends to the URL.
func formSuffix(form url.Values) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(form)) {
		vals := slices.Clone(form[k])
		slices.Sort(vals)
		for _, val := range vals {
			b.WriteString(k)
			b.WriteString(val)
		}
	}
	return b.String()
}

func (v *twilioVerifier) Verify(r *http.Request, body []byte) error {
	h := r.Header.Get("X-Twilio-Signature")
	if h == "" {
		return fail("no X-Twilio-Signature header")
	}
	got, err := strictBase64.DecodeString(strings.TrimSpace(h))
	if err != nil {
		return fail("X-Twilio-Signature is not base64")
	}
	suffix := ""
	ct := r.Header.Get("Content-Type")
	if mt, _, _ := mime.ParseMediaType(ct); mt == "application/x-www-form-urlencoded" {
		form := formValues(ct, body)
		if form == nil {
			return fail("the form body does not parse")
		}
		suffix = formSuffix(form)
	} else if len(body) > 0 {
		want := r.URL.Query().Get("bodySHA256")
		if want == "" {
			return fail("no bodySHA256 in the URL for a body that is not a form")
		}
		sum := sha256.Sum256(body)
		if !equal([]byte(strings.ToLower(want)), []byte(hex.EncodeToString(sum[:]))) {
			return fail("bodySHA256 does not match the body")
		}
	}
	ok := false
	for _, u := range portVariants(v.signedURL(r)) {
		if macMatch(v.keys, sha1.New, [][]byte{got}, []byte(u), []byte(suffix)) {
			ok = true
		}
	}
	if !ok {
		return fail("X-Twilio-Signature does not match (check url: it must be the URL configured at Twilio)")
	}
	return nil
}

// DeliveryKey returns I-Twilio-Idempotency-Token, the same on retries.
func (v *twilioVerifier) DeliveryKey(r *http.Request, _ []byte) string {
	return r.Header.Get("I-Twilio-Idempotency-Token")
}

// Sign signs a form body as Twilio posts it, or any other body as JSON with
// bodySHA256 added to the URL. It needs url.
func (v *twilioVerifier) Sign(m *Message) error {
	if v.url == "" {
		return &postbox.FieldError{Field: "url", Message: "is needed to sign: it is part of what Twilio signs"}
	}
	signed, suffix := v.url, ""
	if form, err := url.ParseQuery(string(m.Body)); err == nil && !isJSON(m.Body) {
		m.set("Content-Type", "application/x-www-form-urlencoded")
		suffix = formSuffix(form)
	} else {
		sum := sha256.Sum256(m.Body)
		m.Query = url.Values{"bodySHA256": {hex.EncodeToString(sum[:])}}
		sep := "?"
		if strings.Contains(signed, "?") {
			sep = "&"
		}
		signed += sep + m.Query.Encode()
		m.set("Content-Type", "application/json")
	}
	m.set("I-Twilio-Idempotency-Token", m.id())
	sum := macSum(v.keys[0], sha1.New, []byte(signed), []byte(suffix))
	m.set("X-Twilio-Signature", base64.StdEncoding.EncodeToString(sum))
	return nil
}
