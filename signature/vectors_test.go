package signature

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// vector is one published example from signature-vectors.json.
type vector struct {
	Provider string            `json:"provider"`
	Source   string            `json:"source"`
	Secret   string            `json:"secret"`
	Body     string            `json:"body"`
	Headers  map[string]string `json:"headers"`
	Now      int64             `json:"now"`
	URL      string            `json:"url"`
	Valid    bool              `json:"valid"`
}

// vectorFiles are the project's copy of the shared vectors, the providers'
// documented examples and, when it sits beside the repository, the shared
// original (which may have gained vectors).
var vectorFiles = []string{"testdata/signature-vectors.json", "testdata/documented-examples.json", "../../shared/testdata/signature-vectors.json"}

func loadVectors(t *testing.T) []vector {
	var all []vector
	seen := map[string]bool{}
	for i, name := range vectorFiles {
		b, err := os.ReadFile(name)
		if err != nil {
			if i < 2 {
				t.Fatal(err)
			}
			continue
		}
		var f struct{ Cases []vector }
		if err := json.Unmarshal(b, &f); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, c := range f.Cases {
			key := fmt.Sprint(c)
			if !seen[key] {
				seen[key] = true
				all = append(all, c)
			}
		}
	}
	return all
}

// schemeOf maps a vector's provider to a scheme name.
func schemeOf(provider string) string {
	return strings.ReplaceAll(provider, "-", "_")
}

// verifyVector builds the provider's verifier with secret and checks v.
func verifyVector(v vector, secret, body string, h http.Header) error {
	s, ok := Lookup(schemeOf(v.Provider))
	if !ok {
		return fmt.Errorf("no scheme for provider %q", v.Provider)
	}
	params := fmt.Sprintf("secret: %q", secret)
	if v.URL != "" {
		params += fmt.Sprintf("\nurl: %q", v.URL)
	}
	ver, err := s.New(decoderFor(params))
	if err != nil {
		return err
	}
	if c, ok := ver.(interface{ setClock(func() time.Time) }); ok && v.Now != 0 {
		c.setClock(func() time.Time { return time.Unix(v.Now, 0) })
	}
	u := "http://postbox.test/hook"
	if v.URL != "" {
		u = v.URL
	}
	return ver.Verify(post(u, h, []byte(body)), []byte(body))
}

// flip changes byte i of s (bit 0), giving a string that differs in exactly
// one byte.
func flip(s string, i int) string {
	b := []byte(s)
	b[i] ^= 1
	return string(b)
}

func headersOf(m map[string]string) http.Header {
	h := http.Header{}
	for k, v := range m {
		h.Set(k, v)
	}
	return h
}

func TestPublishedVectorsAreAccepted(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.Provider, func(t *testing.T) {
			err := verifyVector(v, v.Secret, v.Body, headersOf(v.Headers))
			if v.Valid && err != nil {
				t.Fatalf("%s: rejected: %v", v.Source, err)
			}
			if !v.Valid && err == nil {
				t.Fatalf("%s: accepted an invalid vector", v.Source)
			}
		})
	}
}

func TestPublishedVectorsAreRejectedAfterAnySingleByteChange(t *testing.T) {
	for _, v := range loadVectors(t) {
		if !v.Valid {
			continue
		}
		t.Run(v.Provider, func(t *testing.T) {
			n := 0
			check := func(what string, err error) {
				t.Helper()
				n++
				if err == nil {
					t.Errorf("accepted after changing %s", what)
				}
			}
			for i := range v.Body {
				check(fmt.Sprintf("body byte %d", i), verifyVector(v, v.Secret, flip(v.Body, i), headersOf(v.Headers)))
			}
			for i := range v.Secret {
				check(fmt.Sprintf("secret byte %d", i), verifyVector(v, flip(v.Secret, i), v.Body, headersOf(v.Headers)))
			}
			for name, val := range v.Headers {
				for i := range val {
					h := headersOf(v.Headers)
					h.Set(name, flip(val, i))
					check(fmt.Sprintf("%s byte %d", name, i), verifyVector(v, v.Secret, v.Body, h))
				}
			}
			t.Logf("%d single-byte changes, all rejected", n)
		})
	}
}

// The detail of a rejected vector is for logs: it must quote neither the
// secret nor a signature.
func TestRejectionOfAVectorNamesNeitherSecretNorExpectedSignature(t *testing.T) {
	for _, v := range loadVectors(t) {
		if !v.Valid {
			continue
		}
		t.Run(v.Provider, func(t *testing.T) {
			err := verifyVector(v, v.Secret, v.Body+" ", headersOf(v.Headers))
			mustReject(t, err, "match")
			for _, val := range v.Headers {
				if strings.Contains(err.Error(), val) && len(val) > 20 {
					t.Errorf("detail %q quotes header value %q", err, val)
				}
			}
			if strings.Contains(err.Error(), v.Secret) {
				t.Errorf("detail %q contains the secret", err)
			}
		})
	}
}
