package httpcall

import (
	"net/http"
	"testing"
	"time"
)

// The example of the Standard Webhooks specification and its reference
// libraries.
func TestStandardWebhooksMatchesTheSpecificationVector(t *testing.T) {
	s, err := newSigner(SignConfig{StandardWebhooks: &StandardWebhooksConfig{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}})
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	s.sign(h, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if got, want := h.Get("webhook-signature"), "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("webhook-signature = %q, want %q", got, want)
	}
	if got := h.Get("webhook-timestamp"); got != "1614265330" {
		t.Errorf("webhook-timestamp = %q, want 1614265330", got)
	}
	if got := h.Get("webhook-id"); got != "msg_p5jXN8AQM9LWM0D4loKWxJek" {
		t.Errorf("webhook-id = %q", got)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"120", 2 * time.Minute},
		{" 3 ", 3 * time.Second},
		{"99999999999999", MaxRetryAfter},
		{"Wed, 25 Nov 2026 12:00:30 GMT", 30 * time.Second},
		{"Wednesday, 25-Nov-26 12:01:00 GMT", time.Minute}, // RFC 850
		{"Wed Nov 25 12:00:10 2026", 10 * time.Second},     // ANSI C
		{"Wed, 25 Nov 2026 11:00:00 GMT", 0},               // in the past
		{"Thu, 26 Nov 2026 12:00:00 GMT", MaxRetryAfter},
		{"1.5", 0},
		{"tomorrow", 0},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.value, now); got != tt.want {
			t.Errorf("retryAfter(%q) = %s, want %s", tt.value, got, tt.want)
		}
	}
}
