package spell

import "testing"

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"methds", "methods", 1}, {"paylod", "payload", 1}, {"abc", "", 3}, {"kitten", "sitting", 3}} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestNearest(t *testing.T) {
	for _, tc := range []struct {
		name       string
		candidates []string
		below      int
		want       string
	}{
		{"tokne", []string{"token", "tokens"}, 3, "token"}, // a tie: the first
		{"tokne", []string{"tokens", "token"}, 3, "tokens"},
		{"listn", []string{"admin", "listen"}, 3, "listen"},
		{"zzzzz", []string{"admin", "listen"}, 3, ""},
		{"heder", []string{"header"}, 1, ""}, // 1 away, not under 1
	} {
		if got := Nearest(tc.name, tc.candidates, tc.below); got != tc.want {
			t.Errorf("Nearest(%q, %q, %d) = %q, want %q", tc.name, tc.candidates, tc.below, got, tc.want)
		}
	}
}
