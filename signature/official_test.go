package signature

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/postbox/postbox"
)

// The providers' own Go libraries sign here, postbox verifies over HTTP,
// and the other way round: a divergence from the reference implementation
// fails these tests, not a delivery in production.

// verifyServer answers 204 to requests v accepts and 401 to the others.
func verifyServer(t *testing.T, v postbox.Verifier) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := v.Verify(r, body); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func send(t *testing.T, url string, h http.Header, body []byte) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Logf("%d %s", resp.StatusCode, msg)
	}
	return resp.StatusCode
}

const stripeEvent = `{"id":"evt_test_1","object":"event","api_version":"2025-01-27.acacia","type":"invoice.paid","data":{"object":{}}}`

func TestStripeGoSignsAndPostboxVerifies(t *testing.T) {
	const secret = "whsec_test_secret"
	now := time.Now()
	srv := verifyServer(t, at(t, build(t, "stripe", "secret: "+secret), now))
	cases := []struct {
		name string
		p    webhook.UnsignedPayload
		body string
		want int
	}{
		{"an event signed by stripe-go is accepted", webhook.UnsignedPayload{Payload: []byte(stripeEvent), Secret: secret, Timestamp: now}, stripeEvent, 204},
		{"an event signed with another secret is refused", webhook.UnsignedPayload{Payload: []byte(stripeEvent), Secret: secret + "x", Timestamp: now}, stripeEvent, 401},
		{"an event changed after signing is refused", webhook.UnsignedPayload{Payload: []byte(stripeEvent), Secret: secret, Timestamp: now}, stripeEvent + " ", 401},
		{"an event signed six minutes ago is refused", webhook.UnsignedPayload{Payload: []byte(stripeEvent), Secret: secret, Timestamp: now.Add(-6 * time.Minute)}, stripeEvent, 401},
		{"an event signed with only the v0 scheme is refused", webhook.UnsignedPayload{Payload: []byte(stripeEvent), Secret: secret, Timestamp: now, Scheme: "v0"}, stripeEvent, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			signed := webhook.GenerateTestSignedPayload(&c.p)
			h := http.Header{"Content-Type": {"application/json"}, "Stripe-Signature": {signed.Header}}
			if got := send(t, srv.URL, h, []byte(c.body)); got != c.want {
				t.Fatalf("status %d, want %d", got, c.want)
			}
		})
	}
}

func TestPostboxSignsAndStripeGoVerifies(t *testing.T) {
	const secret = "whsec_test_secret"
	v := build(t, "stripe", "secret: "+secret)
	m := &Message{Body: []byte(stripeEvent)}
	if err := v.(Signer).Sign(m); err != nil {
		t.Fatal(err)
	}
	if err := webhook.ValidatePayload(m.Body, m.Header.Get("Stripe-Signature"), secret); err != nil {
		t.Fatalf("stripe-go refuses postbox's signature: %v", err)
	}
}

func TestStandardWebhooksLibrarySignsAndPostboxVerifies(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"type":"user.created","data":{"id":"u1"}}`)
	now := time.Now()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := standardwebhooks.NewWebhook("whsec_" + "b3RoZXIgc2VjcmV0IGtleQ==")
	signed := func(w *standardwebhooks.Webhook, id string, ts time.Time, prefix string) http.Header {
		sig, err := w.Sign(id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		return http.Header{
			http.CanonicalHeaderKey(prefix + "id"):        {id},
			http.CanonicalHeaderKey(prefix + "timestamp"): {unix(ts)},
			http.CanonicalHeaderKey(prefix + "signature"): {sig},
		}
	}
	for _, scheme := range []string{"standard_webhooks", "svix"} {
		srv := verifyServer(t, at(t, build(t, scheme, "secret: "+secret), now))
		cases := []struct {
			name   string
			header http.Header
			body   []byte
			want   int
		}{
			{"a message signed by the library is accepted", signed(wh, "msg_1", now, "webhook-"), body, 204},
			{"a message signed by the library with svix- headers is accepted", signed(wh, "msg_1", now, "svix-"), body, 204},
			{"a message signed with another secret is refused", signed(other, "msg_1", now, "webhook-"), body, 401},
			{"a message changed after signing is refused", signed(wh, "msg_1", now, "webhook-"), append(bytes.Clone(body), ' '), 401},
			{"a message signed ten minutes ago is refused", signed(wh, "msg_1", now.Add(-10*time.Minute), "webhook-"), body, 401},
		}
		for _, c := range cases {
			t.Run(scheme+": "+c.name, func(t *testing.T) {
				if got := send(t, srv.URL, c.header, c.body); got != c.want {
					t.Fatalf("status %d, want %d", got, c.want)
				}
			})
		}
	}
}

func TestPostboxSignsAndTheStandardWebhooksLibraryVerifies(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	m := &Message{Body: []byte(`{"type":"user.created"}`)}
	if err := build(t, "standard_webhooks", "secret: "+secret).(Signer).Sign(m); err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(m.Body, m.Header); err != nil {
		t.Fatalf("the library refuses postbox's signature: %v", err)
	}
}
