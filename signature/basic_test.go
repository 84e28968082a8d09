package signature

import (
	"errors"
	"strings"
	"testing"

	"github.com/postbox/postbox"
)

// TestBasicFailureDoesNotNameTheUser checks that a failed basic login is
// logged without the user name it tried: people type passwords into the
// user name field, and the detail goes to the log and the console.
func TestBasicFailureDoesNotNameTheUser(t *testing.T) {
	v := build(t, "basic", "{username: hooks, password: right-password}")
	for _, tt := range []struct{ name, user, pass string }{
		{"a password typed as the user name", "my-other-password", "x"},
		{"a wrong password for the right user", "hooks", "wrong-password"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := post("/h", nil, nil)
			r.SetBasicAuth(tt.user, tt.pass)
			err := v.Verify(r, nil)
			mustReject(t, err, "basic credentials do not match")
			var pe *postbox.Error
			errors.As(err, &pe)
			for _, s := range []string{pe.Message, pe.Detail, err.Error()} {
				if strings.Contains(s, tt.user) || strings.Contains(s, tt.pass) {
					t.Errorf("the failure shows what the client sent: %q", s)
				}
			}
		})
	}
}
