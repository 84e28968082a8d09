package signature

import (
	"encoding/json"
	"net/http"
	"testing"
)

func TestDeliveryKeys(t *testing.T) {
	cases := []struct {
		name   string
		scheme string
		params string
		header http.Header
		body   string
		want   string
	}{
		{"GitHub's key is X-GitHub-Delivery", "github", "secret: s", hdr("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"), "{}", "72d3162e-cc78-11e3-81ab-4c9367dc0958"},
		{"GitLab's key is Idempotency-Key, the same on retries", "gitlab", "secret: s", hdr("Idempotency-Key", "k1", "X-Gitlab-Event-UUID", "u1"), "{}", "k1"},
		{"GitLab's key falls back to X-Gitlab-Event-UUID", "gitlab", "secret: s", hdr("X-Gitlab-Event-UUID", "u1"), "{}", "u1"},
		{"Gitea's key is X-Gitea-Delivery", "gitea", "secret: s", hdr("X-Gitea-Delivery", "g1"), "{}", "g1"},
		{"Forgejo's key is X-Forgejo-Delivery", "forgejo", "secret: s", hdr("X-Forgejo-Delivery", "f1"), "{}", "f1"},
		{"Bitbucket Cloud's key is X-Request-UUID, not the webhook's X-Hook-UUID", "bitbucket", "secret: s", hdr("X-Hook-UUID", "hook", "X-Request-UUID", "r1"), "{}", "r1"},
		{"Bitbucket Data Center's key is X-Request-Id", "bitbucket", "secret: s", hdr("X-Request-Id", "r2"), "{}", "r2"},
		{"Stripe's key is the event id in the body", "stripe", "secret: whsec_x", nil, `{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event"}`, "evt_1NG8Du2eZvKYlo2CUI79vXWy"},
		{"Stripe has no key for a body without id", "stripe", "secret: whsec_x", nil, `{"object":"event"}`, ""},
		{"Slack's key is event_id", "slack", "secret: s", nil, `{"type":"event_callback","event_id":"Ev1"}`, "Ev1"},
		{"Shopify's key is X-Shopify-Webhook-Id", "shopify", "secret: s", hdr("X-Shopify-Webhook-Id", "b54557e4"), "{}", "b54557e4"},
		{"Standard Webhooks' key is webhook-id", "standard_webhooks", "secret: whsec_a2V5", hdr("webhook-id", "msg_1"), "{}", "msg_1"},
		{"Svix's key is svix-id", "svix", "secret: whsec_a2V5", hdr("svix-id", "msg_2"), "{}", "msg_2"},
		{"Twilio's key is I-Twilio-Idempotency-Token", "twilio", "secret: s", hdr("I-Twilio-Idempotency-Token", "t1"), "", "t1"},
		{"Linear's key is Linear-Delivery, not webhookId", "linear", "secret: s", hdr("Linear-Delivery", "l1"), `{"webhookId":"w"}`, "l1"},
		{"Paddle's key is notification_id", "paddle", "secret: s", nil, `{"event_id":"evt_1","notification_id":"ntf_1"}`, "ntf_1"},
		{"Square's key is event_id", "square", "{secret: s, url: 'https://x.example/'}", nil, `{"event_id":"sq1"}`, "sq1"},
		{"Typeform's key is event_id", "typeform", "secret: s", nil, `{"event_id":"tf1"}`, "tf1"},
		{"Twitch's key is Twitch-Eventsub-Message-Id", "twitch", "secret: s", hdr("Twitch-Eventsub-Message-Id", "tw1"), "{}", "tw1"},
		{"Mailgun's key is event-data.id", "mailgun", "secret: s", nil, `{"event-data":{"id":"mg1"}}`, "mg1"},
		{"Discord's key is the interaction id", "discord", "public_key: " + zeroKey, nil, `{"id":"123456789","type":2}`, "123456789"},
		{"hmac's key is id_header when set", "hmac", "{header: X-Sig, id_header: X-Id, signed: '{{.ID}}.{{.Body}}', secret: s}", hdr("X-Id", "h1"), "{}", "h1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := build(t, c.scheme, c.params)
			id, ok := v.(Identifier)
			if !ok {
				t.Fatalf("%T is not an Identifier", v)
			}
			if got := id.DeliveryKey(post("http://postbox.test/h", c.header, []byte(c.body)), []byte(c.body)); got != c.want {
				t.Fatalf("DeliveryKey = %q, want %q", got, c.want)
			}
		})
	}
}

const zeroKey = "0000000000000000000000000000000000000000000000000000000000000000"

func TestHandshakesAreAnswered(t *testing.T) {
	cases := []struct {
		name        string
		scheme      string
		params      string
		header      http.Header
		body        string
		answered    bool
		contentType string
		want        string
	}{
		{"Zoom's endpoint.url_validation gets the plain and encrypted token", "zoom", "secret: s3cret", nil,
			`{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}`,
			true, "application/json", `{"encryptedToken":"` + hmacHex("s3cret", "qgg8vlvZRS6UYooatFL8Aw") + `","plainToken":"qgg8vlvZRS6UYooatFL8Aw"}`},
		{"Zoom's other events are stored, not answered", "zoom", "secret: s3cret", nil, `{"event":"meeting.started"}`, false, "", ""},
		{"Twitch's webhook_callback_verification gets its challenge as text", "twitch", "secret: s3cret",
			hdr("Twitch-Eventsub-Message-Type", "webhook_callback_verification"), `{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{}}`,
			true, "text/plain; charset=utf-8", "pogchamp-kappa-360noscope-vohiyo"},
		{"Twitch's notifications are stored, not answered", "twitch", "secret: s3cret",
			hdr("Twitch-Eventsub-Message-Type", "notification"), `{"challenge":"x"}`, false, "", ""},
		{"Discord's PING gets a PONG", "discord", "public_key: " + zeroKey, nil, `{"type":1}`, true, "application/json", `{"type":1}`},
		{"Discord's commands are stored, not answered", "discord", "public_key: " + zeroKey, nil, `{"type":2}`, false, "", ""},
		{"Slack's url_verification gets its challenge", "slack", "secret: s3cret", nil,
			`{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`,
			true, "text/plain; charset=utf-8", "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"},
		{"Slack's events are stored, not answered", "slack", "secret: s3cret", nil, `{"type":"event_callback"}`, false, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, ok := build(t, c.scheme, c.params).(Answerer)
			if !ok {
				t.Fatal("not an Answerer")
			}
			ans, answered := a.Answer(post("http://postbox.test/h", c.header, []byte(c.body)), []byte(c.body))
			if answered != c.answered {
				t.Fatalf("answered = %v, want %v", answered, c.answered)
			}
			if !answered {
				return
			}
			if ans.Status != http.StatusOK || ans.Header.Get("Content-Type") != c.contentType {
				t.Errorf("status %d, Content-Type %q; want 200, %q", ans.Status, ans.Header.Get("Content-Type"), c.contentType)
			}
			got := string(ans.Body)
			if c.contentType == "application/json" {
				var a, b any
				json.Unmarshal(ans.Body, &a)
				json.Unmarshal([]byte(c.want), &b)
				ga, _ := json.Marshal(a)
				gb, _ := json.Marshal(b)
				got, c.want = string(ga), string(gb)
			}
			if got != c.want {
				t.Errorf("body %s, want %s", got, c.want)
			}
		})
	}
}
