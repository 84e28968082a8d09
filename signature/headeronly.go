package signature

import "net/http"

// HeaderOnly is implemented by verifiers whose decision needs no body: the
// credential is in a header, the URL or the client's address (token, basic,
// gitlab, ip). The ingress runs VerifyHeader before it reads the body, so
// that a client with wrong credentials is refused without its body being
// read or held in memory; Verify is then not called again.
type HeaderOnly interface {
	// VerifyHeader is Verify without the body: nil when r passes, else
	// the EUNAUTH error Verify would return.
	VerifyHeader(r *http.Request) error
}

var (
	_ HeaderOnly = (*tokenVerifier)(nil)
	_ HeaderOnly = (*basicVerifier)(nil)
	_ HeaderOnly = (*gitlabVerifier)(nil)
	_ HeaderOnly = (*ipVerifier)(nil)
)

// VerifyHeader checks the token; the body plays no part.
func (v *tokenVerifier) VerifyHeader(r *http.Request) error { return v.Verify(r, nil) }

// VerifyHeader checks the basic credentials; the body plays no part.
func (v *basicVerifier) VerifyHeader(r *http.Request) error { return v.Verify(r, nil) }

// VerifyHeader checks X-Gitlab-Token; the body plays no part.
func (v *gitlabVerifier) VerifyHeader(r *http.Request) error { return v.Verify(r, nil) }

// VerifyHeader checks the client's address; the body plays no part.
func (v *ipVerifier) VerifyHeader(r *http.Request) error { return v.Verify(r, nil) }
