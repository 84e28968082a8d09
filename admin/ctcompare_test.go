package admin_test

import (
	"testing"

	"github.com/postbox/postbox/internal/ctcheck"
)

// The admin token is compared in constant time (see signature's test of
// the same name).
func TestSecretsAreComparedInConstantTime(t *testing.T) {
	v, err := ctcheck.Violations(".", map[string]string{"equal": "subtle.ConstantTimeCompare", "bearer": "match", "match": "equal", "authorize": "match"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range v {
		t.Error(p)
	}
}
