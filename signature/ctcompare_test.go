package signature_test

import (
	"testing"

	"github.com/postbox/postbox/internal/ctcheck"
)

// Secrets and signatures are compared in constant time: equal hashes both
// sides and uses subtle, macMatch uses hmac.Equal, and nothing compares a
// secret with == or bytes.Equal. A timing test could not tell reliably;
// reading the source can.
func TestSecretsAreComparedInConstantTime(t *testing.T) {
	v, err := ctcheck.Violations(".", map[string]string{"equal": "subtle.ConstantTimeCompare", "macMatch": "hmac.Equal"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range v {
		t.Error(p)
	}
}
