package signature

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"gopkg.in/yaml.v3"
)

// decoderFor returns a decode func like config's: strict keys, from YAML.
func decoderFor(params string) func(any) error {
	return func(out any) error {
		dec := yaml.NewDecoder(strings.NewReader(params))
		dec.KnownFields(true)
		return dec.Decode(out)
	}
}

// build makes a verifier of the named scheme from YAML params.
func build(t testing.TB, name, params string) postbox.Verifier {
	t.Helper()
	s, ok := Lookup(name)
	if !ok {
		t.Fatalf("no scheme %q", name)
	}
	v, err := s.New(decoderFor(params))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// at fixes v's clock at now.
func at(t testing.TB, v postbox.Verifier, now time.Time) postbox.Verifier {
	t.Helper()
	c, ok := v.(interface{ setClock(func() time.Time) })
	if !ok {
		t.Fatalf("%T has no clock", v)
	}
	c.setClock(func() time.Time { return now })
	return v
}

// post builds a request to u with headers and body.
func post(u string, h http.Header, body []byte) *http.Request {
	r := httptest.NewRequest(http.MethodPost, u, bytes.NewReader(body))
	for k, vs := range h {
		r.Header[http.CanonicalHeaderKey(k)] = vs
	}
	return r
}

// hdr builds a header from name, value pairs.
func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// sign signs body with v at now and returns the request it describes,
// posted to base (plus the query Sign added), and its body.
func sign(t testing.TB, v postbox.Verifier, base string, body []byte, now time.Time) (*http.Request, []byte) {
	t.Helper()
	s, ok := v.(Signer)
	if !ok {
		t.Fatalf("%T is not a Signer", v)
	}
	m := &Message{Body: body, Now: now}
	if err := s.Sign(m); err != nil {
		t.Fatalf("sign: %v", err)
	}
	if len(m.Query) > 0 {
		base += "?" + m.Query.Encode()
	}
	return post(base, m.Header, m.Body), m.Body
}

// mustReject fails unless err is the EUNAUTH error of a failed check whose
// detail contains want.
func mustReject(t testing.TB, err error, want string) {
	t.Helper()
	var pe *postbox.Error
	switch {
	case err == nil:
		t.Fatalf("accepted; want rejected with %q", want)
	case !errors.As(err, &pe) || pe.Code != postbox.EUNAUTH:
		t.Fatalf("err = %v; want an EUNAUTH *postbox.Error", err)
	case pe.Message != "authentication failed":
		t.Fatalf("client message = %q; it must stay generic", pe.Message)
	case !strings.Contains(pe.Detail, want):
		t.Fatalf("detail = %q; want it to contain %q", pe.Detail, want)
	}
}

// t0 is the instant most tests run at.
var t0 = time.Unix(1700000000, 0)
