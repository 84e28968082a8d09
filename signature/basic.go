package signature

import (
	"net/http"

	"github.com/postbox/postbox"
)

// Basic checks HTTP basic authentication (RFC 7617).
var Basic = Scheme{Name: "basic", New: newBasic}

type basicParams struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	Realm    string `yaml:"realm"`
}

type basicVerifier struct {
	user, pass []byte
	realm      string
}

func newBasic(decode func(any) error) (postbox.Verifier, error) {
	p := basicParams{Realm: "postbox"}
	if err := decode(&p); err != nil {
		return nil, err
	}
	if p.Username == "" {
		return nil, &postbox.FieldError{Field: "username", Message: "is empty"}
	}
	if p.Password == "" {
		return nil, &postbox.FieldError{Field: "password", Message: "is empty"}
	}
	return &basicVerifier{user: []byte(p.Username), pass: []byte(p.Password), realm: p.Realm}, nil
}

func (v *basicVerifier) Verify(r *http.Request, _ []byte) error {
	u, p, ok := r.BasicAuth()
	if !ok {
		return fail("no basic credentials")
	}
	// Both comparisons run, so that timing does not tell which one failed.
	userOK := equal([]byte(u), v.user)
	passOK := equal([]byte(p), v.pass)
	if !userOK || !passOK {
		// Not which user: a password typed into the user name field
		// would be logged and shown in the console.
		return fail("basic credentials do not match")
	}
	return nil
}

func (v *basicVerifier) Challenge() string { return `Basic realm="` + v.realm + `", charset="UTF-8"` }

func (v *basicVerifier) SecretHeaders() []string { return []string{"Authorization"} }

func (v *basicVerifier) SecretQuery() []string { return nil }
