package signature

import (
	"net/http"
	"strings"

	"github.com/postbox/postbox"
)

// Token checks a shared secret sent in a header (X-Token by default), as
// `Authorization: Bearer <secret>`, or, when Query is set, in that query
// parameter (for senders that cannot set headers; the URL then carries the
// secret, so prefer a header).
var Token = Scheme{Name: "token", New: newToken}

type tokenParams struct {
	Header  string `yaml:"header"`
	Query   string `yaml:"query"`
	Secrets `yaml:",inline"`
}

type tokenVerifier struct {
	header  string
	query   string
	secrets [][]byte
}

func newToken(decode func(any) error) (postbox.Verifier, error) {
	p := tokenParams{Header: "X-Token"}
	if err := decode(&p); err != nil {
		return nil, err
	}
	list, err := p.List()
	if err != nil {
		return nil, err
	}
	v := &tokenVerifier{header: http.CanonicalHeaderKey(p.Header), query: p.Query}
	for _, s := range list {
		v.secrets = append(v.secrets, []byte(s))
	}
	return v, nil
}

func (v *tokenVerifier) Verify(r *http.Request, _ []byte) error {
	got, from := "", ""
	if h := r.Header.Get(v.header); h != "" {
		got, from = h, v.header
	} else if a := r.Header.Get("Authorization"); len(a) > 7 && strings.EqualFold(a[:7], "bearer ") {
		got, from = strings.TrimSpace(a[7:]), "Authorization"
	} else if v.query != "" && r.URL.Query().Get(v.query) != "" {
		got, from = r.URL.Query().Get(v.query), "query "+v.query
	}
	if got == "" {
		return fail("no token in %s or Authorization: Bearer", v.header)
	}
	ok := false
	for _, s := range v.secrets {
		if equal([]byte(got), s) {
			ok = true
		}
	}
	if !ok {
		return fail("token in %s does not match", from)
	}
	return nil
}

func (v *tokenVerifier) SecretHeaders() []string { return []string{v.header, "Authorization"} }

func (v *tokenVerifier) SecretQuery() []string {
	if v.query == "" {
		return nil
	}
	return []string{v.query}
}
