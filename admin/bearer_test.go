package admin_test

import (
	"net/http"
	"strings"
	"testing"
)

// Only the whole token opens the admin API: not a part of it, not more,
// not another case; "Bearer" in any case is the scheme (RFC 9110).
func TestOnlyTheWholeBearerTokenIsAccepted(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, auth string
		want       int
	}{
		{"the token", "Bearer " + testToken, http.StatusOK},
		{"the scheme in another case", "bearer " + testToken, http.StatusOK},
		{"the token but its last character", "Bearer " + testToken[:len(testToken)-1], http.StatusUnauthorized},
		{"the token's first character", "Bearer " + testToken[:1], http.StatusUnauthorized},
		{"the token's second half", "Bearer " + testToken[len(testToken)/2:], http.StatusUnauthorized},
		{"an empty token", "Bearer ", http.StatusUnauthorized},
		{"the token and more", "Bearer " + testToken + "x", http.StatusUnauthorized},
		{"the token in upper case", "Bearer " + strings.ToUpper(testToken), http.StatusUnauthorized},
		{"the token without the scheme", testToken, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, f.ts.URL+"/api/hooks", nil)
			req.Header.Set("Authorization", tt.auth)
			res, err := f.ts.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.want {
				t.Errorf("%d, want %d", res.StatusCode, tt.want)
			}
		})
	}
}
