package signature

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"mime/multipart"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The requests in this file are built by hand from each provider's
// documentation, independently of the schemes' Sign methods.

func mac(h func() hash.Hash, key, msg string) []byte {
	m := hmac.New(h, []byte(key))
	m.Write([]byte(msg))
	return m.Sum(nil)
}

func hmacHex(key, msg string) string { return hex.EncodeToString(mac(sha256.New, key, msg)) }
func hmacB64(key, msg string) string {
	return base64.StdEncoding.EncodeToString(mac(sha256.New, key, msg))
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }

// presetCase is one request to one configured scheme; want is "" for a
// request that must be accepted, or a part of the rejection's detail.
type presetCase struct {
	name   string
	scheme string
	params string
	url    string // default http://postbox.test/hook
	header http.Header
	body   string
	now    time.Time // default t0
	want   string
}

const (
	body = `{"id":"evt_1","hello":"world"}`
	sec  = "s3cret"
)

var presetCases = []presetCase{
	// GitHub
	{name: "GitHub accepts a body signed in X-Hub-Signature-256", scheme: "github", params: "secret: s3cret",
		header: hdr("X-Hub-Signature-256", "sha256="+hmacHex(sec, body)), body: body},
	{name: "GitHub refuses a body changed after signing", scheme: "github", params: "secret: s3cret",
		header: hdr("X-Hub-Signature-256", "sha256="+hmacHex(sec, body)), body: body + " ", want: "X-Hub-Signature-256 does not match"},
	{name: "GitHub refuses a signature without its sha256= prefix", scheme: "github", params: "secret: s3cret",
		header: hdr("X-Hub-Signature-256", hmacHex(sec, body)), body: body, want: `does not start with "sha256="`},
	{name: "GitHub refuses the SHA-1 X-Hub-Signature alone unless allow_sha1 is set", scheme: "github", params: "secret: s3cret",
		header: hdr("X-Hub-Signature", "sha1="+hex.EncodeToString(mac(sha1.New, sec, body))), body: body, want: "no X-Hub-Signature-256 header"},
	{name: "GitHub accepts the SHA-1 X-Hub-Signature with allow_sha1", scheme: "github", params: "{secret: s3cret, allow_sha1: true}",
		header: hdr("X-Hub-Signature", "sha1="+hex.EncodeToString(mac(sha1.New, sec, body))), body: body},
	{name: "GitHub accepts the second secret while the first is rotated out", scheme: "github", params: "{secret: old, secrets: [s3cret]}",
		header: hdr("X-Hub-Signature-256", "sha256="+hmacHex(sec, body)), body: body},
	{name: "GitHub refuses a request with no signature", scheme: "github", params: "secret: s3cret", body: body, want: "no X-Hub-Signature-256 header"},
	{name: "GitHub refuses a signature that is not hex", scheme: "github", params: "secret: s3cret",
		header: hdr("X-Hub-Signature-256", "sha256=zz"), body: body, want: "not a hex signature"},

	// GitLab
	{name: "GitLab accepts the secret token in X-Gitlab-Token", scheme: "gitlab", params: "secret: s3cret",
		header: hdr("X-Gitlab-Token", sec), body: body},
	{name: "GitLab refuses another token", scheme: "gitlab", params: "secret: s3cret",
		header: hdr("X-Gitlab-Token", "s3creT"), body: body, want: "X-Gitlab-Token does not match"},
	{name: "GitLab refuses a request without X-Gitlab-Token", scheme: "gitlab", params: "secret: s3cret", body: body, want: "no X-Gitlab-Token"},

	// Gitea, Forgejo
	{name: "Gitea accepts X-Gitea-Signature, hex without prefix", scheme: "gitea", params: "secret: s3cret",
		header: hdr("X-Gitea-Signature", hmacHex(sec, body)), body: body},
	{name: "Gitea accepts X-Hub-Signature-256 as newer versions send it", scheme: "gitea", params: "secret: s3cret",
		header: hdr("X-Hub-Signature-256", "sha256="+hmacHex(sec, body)), body: body},
	{name: "Forgejo accepts X-Forgejo-Signature", scheme: "forgejo", params: "secret: s3cret",
		header: hdr("X-Forgejo-Signature", hmacHex(sec, body)), body: body},
	{name: "Forgejo refuses a signature by another secret", scheme: "forgejo", params: "secret: s3cret",
		header: hdr("X-Forgejo-Signature", hmacHex("other", body)), body: body, want: "does not match"},

	// Bitbucket
	{name: "Bitbucket accepts sha256= in X-Hub-Signature", scheme: "bitbucket", params: "secret: s3cret",
		header: hdr("X-Hub-Signature", "sha256="+hmacHex(sec, body)), body: body},
	{name: "Bitbucket refuses an SHA-1 signature", scheme: "bitbucket", params: "secret: s3cret",
		header: hdr("X-Hub-Signature", "sha1="+hex.EncodeToString(mac(sha1.New, sec, body))), body: body, want: `does not start with "sha256="`},

	// Stripe
	{name: "Stripe accepts t= and v1= keyed with the whole whsec_ secret", scheme: "stripe", params: "secret: whsec_abc",
		header: hdr("Stripe-Signature", "t="+unix(t0)+",v1="+hmacHex("whsec_abc", unix(t0)+"."+body)), body: body},
	{name: "Stripe accepts any of several v1 signatures", scheme: "stripe", params: "secret: whsec_abc",
		header: hdr("Stripe-Signature", "t="+unix(t0)+",v1="+hmacHex("whsec_old", unix(t0)+"."+body)+",v1="+hmacHex("whsec_abc", unix(t0)+"."+body)+",v0=abc"), body: body},
	{name: "Stripe refuses a signature keyed with the secret without whsec_", scheme: "stripe", params: "secret: whsec_abc",
		header: hdr("Stripe-Signature", "t="+unix(t0)+",v1="+hmacHex("abc", unix(t0)+"."+body)), body: body, want: "no v1 signature in Stripe-Signature matches"},
	{name: "Stripe refuses a header with only the test-mode v0", scheme: "stripe", params: "secret: whsec_abc",
		header: hdr("Stripe-Signature", "t="+unix(t0)+",v0="+hmacHex("whsec_abc", unix(t0)+"."+body)), body: body, want: "no v1= signature"},
	{name: "Stripe accepts a request exactly 300 s old", scheme: "stripe", params: "secret: whsec_abc", now: t0.Add(300 * time.Second),
		header: hdr("Stripe-Signature", "t="+unix(t0)+",v1="+hmacHex("whsec_abc", unix(t0)+"."+body)), body: body},
	{name: "Stripe refuses a request 301 s old and says how old", scheme: "stripe", params: "secret: whsec_abc", now: t0.Add(301 * time.Second),
		header: hdr("Stripe-Signature", "t="+unix(t0)+",v1="+hmacHex("whsec_abc", unix(t0)+"."+body)), body: body, want: "timestamp 301 s old"},
	{name: "Stripe honours a configured tolerance", scheme: "stripe", params: "{secret: whsec_abc, tolerance: 10m}", now: t0.Add(9 * time.Minute),
		header: hdr("Stripe-Signature", "t="+unix(t0)+",v1="+hmacHex("whsec_abc", unix(t0)+"."+body)), body: body},
	{name: "Stripe refuses a changed timestamp", scheme: "stripe", params: "secret: whsec_abc",
		header: hdr("Stripe-Signature", "t="+unix(t0.Add(time.Second))+",v1="+hmacHex("whsec_abc", unix(t0)+"."+body)), body: body, want: "matches"},

	// Slack
	{name: "Slack accepts v0= over v0:timestamp:body", scheme: "slack", params: "secret: s3cret",
		header: hdr("X-Slack-Request-Timestamp", unix(t0), "X-Slack-Signature", "v0="+hmacHex(sec, "v0:"+unix(t0)+":"+body)), body: body},
	{name: "Slack refuses a request 612 s old", scheme: "slack", params: "secret: s3cret", now: t0.Add(612 * time.Second),
		header: hdr("X-Slack-Request-Timestamp", unix(t0), "X-Slack-Signature", "v0="+hmacHex(sec, "v0:"+unix(t0)+":"+body)), body: body, want: "timestamp 612 s old"},
	{name: "Slack refuses a request from 10 minutes in the future", scheme: "slack", params: "secret: s3cret", now: t0.Add(-10 * time.Minute),
		header: hdr("X-Slack-Request-Timestamp", unix(t0), "X-Slack-Signature", "v0="+hmacHex(sec, "v0:"+unix(t0)+":"+body)), body: body, want: "timestamp 600 s in the future"},
	{name: "Slack refuses a request without its timestamp", scheme: "slack", params: "secret: s3cret",
		header: hdr("X-Slack-Signature", "v0="+hmacHex(sec, "v0:"+unix(t0)+":"+body)), body: body, want: "no X-Slack-Request-Timestamp header"},
	{name: "Slack refuses a timestamp that is not a number", scheme: "slack", params: "secret: s3cret",
		header: hdr("X-Slack-Request-Timestamp", "soon", "X-Slack-Signature", "v0="+hmacHex(sec, "v0:soon:"+body)), body: body, want: `"soon" is not a timestamp`},

	// Shopify
	{name: "Shopify accepts base64 HMAC-SHA256 in X-Shopify-Hmac-Sha256", scheme: "shopify", params: "secret: s3cret",
		header: hdr("X-Shopify-Hmac-Sha256", hmacB64(sec, body)), body: body},
	{name: "Shopify refuses the same MAC written in hex", scheme: "shopify", params: "secret: s3cret",
		header: hdr("X-Shopify-Hmac-Sha256", hmacHex(sec, body)), body: body, want: "does not match"},
	{name: "Shopify refuses a signature that is not base64", scheme: "shopify", params: "secret: s3cret",
		header: hdr("X-Shopify-Hmac-Sha256", "not base64!"), body: body, want: "not a base64 signature"},

	// Standard Webhooks
	{name: "Standard Webhooks accepts v1 over id.timestamp.body with the decoded whsec_ key", scheme: "standard_webhooks", params: "secret: whsec_" + base64.StdEncoding.EncodeToString([]byte("key")),
		header: hdr("webhook-id", "msg_1", "webhook-timestamp", unix(t0), "webhook-signature", "v1,"+hmacB64("key", "msg_1."+unix(t0)+"."+body)), body: body},
	{name: "Standard Webhooks accepts one good signature among several", scheme: "standard_webhooks", params: "secret: whsec_" + base64.StdEncoding.EncodeToString([]byte("key")),
		header: hdr("webhook-id", "msg_1", "webhook-timestamp", unix(t0), "webhook-signature", "v1a,abc v1,"+hmacB64("old", "msg_1."+unix(t0)+"."+body)+" v1,"+hmacB64("key", "msg_1."+unix(t0)+"."+body)), body: body},
	{name: "Standard Webhooks accepts Svix's svix- headers", scheme: "svix", params: "secret: whsec_" + base64.StdEncoding.EncodeToString([]byte("key")),
		header: hdr("svix-id", "msg_1", "svix-timestamp", unix(t0), "svix-signature", "v1,"+hmacB64("key", "msg_1."+unix(t0)+"."+body)), body: body},
	{name: "Standard Webhooks refuses a changed webhook-id", scheme: "standard_webhooks", params: "secret: whsec_" + base64.StdEncoding.EncodeToString([]byte("key")),
		header: hdr("webhook-id", "msg_2", "webhook-timestamp", unix(t0), "webhook-signature", "v1,"+hmacB64("key", "msg_1."+unix(t0)+"."+body)), body: body, want: "matches the body"},
	{name: "Standard Webhooks refuses a request 6 minutes old", scheme: "standard_webhooks", params: "secret: whsec_" + base64.StdEncoding.EncodeToString([]byte("key")), now: t0.Add(6 * time.Minute),
		header: hdr("webhook-id", "msg_1", "webhook-timestamp", unix(t0), "webhook-signature", "v1,"+hmacB64("key", "msg_1."+unix(t0)+"."+body)), body: body, want: "timestamp 360 s old"},
	{name: "Standard Webhooks refuses a header with no v1 signature", scheme: "standard_webhooks", params: "secret: whsec_" + base64.StdEncoding.EncodeToString([]byte("key")),
		header: hdr("webhook-id", "msg_1", "webhook-timestamp", unix(t0), "webhook-signature", "v2,"+hmacB64("key", "msg_1."+unix(t0)+"."+body)), body: body, want: "no v1 signature in webhook-signature"},
	{name: "Standard Webhooks refuses a request without webhook-id", scheme: "standard_webhooks", params: "secret: whsec_" + base64.StdEncoding.EncodeToString([]byte("key")),
		header: hdr("webhook-timestamp", unix(t0), "webhook-signature", "v1,"+hmacB64("key", "."+unix(t0)+"."+body)), body: body, want: "no webhook-id header"},

	// Twilio
	{name: "Twilio accepts a form signed over the public url behind a proxy", scheme: "twilio", params: "{secret: tok, url: 'https://public.example/sms'}",
		url: "http://127.0.0.1:8080/hooks/sms", header: hdr("Content-Type", "application/x-www-form-urlencoded",
			"X-Twilio-Signature", base64.StdEncoding.EncodeToString(mac(sha1.New, "tok", "https://public.example/smsBodyhiFrom+1"))), body: "From=%2B1&Body=hi"},
	{name: "Twilio refuses the same form when url is not set and the proxy changed the URL", scheme: "twilio", params: "secret: tok",
		url: "http://127.0.0.1:8080/hooks/sms", header: hdr("Content-Type", "application/x-www-form-urlencoded",
			"X-Twilio-Signature", base64.StdEncoding.EncodeToString(mac(sha1.New, "tok", "https://public.example/smsBodyhiFrom+1"))), body: "From=%2B1&Body=hi", want: "check url"},
	{name: "Twilio accepts a URL signed with its default port", scheme: "twilio", params: "{secret: tok, url: 'https://public.example/sms'}",
		header: hdr("Content-Type", "application/x-www-form-urlencoded",
			"X-Twilio-Signature", base64.StdEncoding.EncodeToString(mac(sha1.New, "tok", "https://public.example:443/smsBodyhi"))), body: "Body=hi"},
	{name: "Twilio accepts a JSON body whose bodySHA256 is in the signed URL", scheme: "twilio", params: "{secret: tok, url: 'https://public.example/ev'}",
		url: "http://postbox.test/ev?bodySHA256=" + sha256Hex0(body), header: hdr("Content-Type", "application/json",
			"X-Twilio-Signature", base64.StdEncoding.EncodeToString(mac(sha1.New, "tok", "https://public.example/ev?bodySHA256="+sha256Hex0(body)))), body: body},
	{name: "Twilio refuses a JSON body that does not match bodySHA256", scheme: "twilio", params: "{secret: tok, url: 'https://public.example/ev'}",
		url: "http://postbox.test/ev?bodySHA256=" + sha256Hex0(body), header: hdr("Content-Type", "application/json",
			"X-Twilio-Signature", base64.StdEncoding.EncodeToString(mac(sha1.New, "tok", "https://public.example/ev?bodySHA256="+sha256Hex0(body)))), body: body + " ", want: "bodySHA256 does not match"},
	{name: "Twilio refuses a JSON body without bodySHA256", scheme: "twilio", params: "{secret: tok, url: 'https://public.example/ev'}",
		header: hdr("Content-Type", "application/json", "X-Twilio-Signature", base64.StdEncoding.EncodeToString(mac(sha1.New, "tok", "https://public.example/ev"))), body: body, want: "no bodySHA256"},

	// Linear
	{name: "Linear accepts a signed body with a fresh webhookTimestamp", scheme: "linear", params: "secret: s3cret", now: t0.Add(30 * time.Second),
		header: hdr("Linear-Signature", hmacHex(sec, linearBody)), body: linearBody},
	{name: "Linear refuses a webhookTimestamp 61 s old", scheme: "linear", params: "secret: s3cret", now: t0.Add(61 * time.Second),
		header: hdr("Linear-Signature", hmacHex(sec, linearBody)), body: linearBody, want: "timestamp 61 s old"},
	{name: "Linear refuses a body without webhookTimestamp", scheme: "linear", params: "secret: s3cret",
		header: hdr("Linear-Signature", hmacHex(sec, body)), body: body, want: "no webhookTimestamp"},

	// Paddle
	{name: "Paddle accepts ts= and h1= over ts:body", scheme: "paddle", params: "secret: pdl_ntfset_x",
		header: hdr("Paddle-Signature", "ts="+unix(t0)+";h1="+hmacHex("pdl_ntfset_x", unix(t0)+":"+body)), body: body},
	{name: "Paddle accepts one good h1 among two while a key rotates", scheme: "paddle", params: "secret: pdl_ntfset_x",
		header: hdr("Paddle-Signature", "ts="+unix(t0)+";h1="+hmacHex("old", unix(t0)+":"+body)+";h1="+hmacHex("pdl_ntfset_x", unix(t0)+":"+body)), body: body},
	{name: "Paddle refuses a request 6 s old by default", scheme: "paddle", params: "secret: pdl_ntfset_x", now: t0.Add(6 * time.Second),
		header: hdr("Paddle-Signature", "ts="+unix(t0)+";h1="+hmacHex("pdl_ntfset_x", unix(t0)+":"+body)), body: body, want: "timestamp 6 s old"},
	{name: "Paddle refuses a header without ts", scheme: "paddle", params: "secret: pdl_ntfset_x",
		header: hdr("Paddle-Signature", "h1="+hmacHex("pdl_ntfset_x", unix(t0)+":"+body)), body: body, want: "no ts= timestamp"},

	// Square
	{name: "Square accepts base64 HMAC-SHA256 over notification URL and body", scheme: "square", params: "{secret: sq, url: 'https://public.example/square'}",
		header: hdr("X-Square-Hmacsha256-Signature", hmacB64("sq", "https://public.example/square"+body)), body: body},
	{name: "Square refuses a signature over another URL", scheme: "square", params: "{secret: sq, url: 'https://public.example/square'}",
		header: hdr("X-Square-Hmacsha256-Signature", hmacB64("sq", "https://public.example/other"+body)), body: body, want: "does not match"},

	// Typeform
	{name: "Typeform accepts sha256= and base64", scheme: "typeform", params: "secret: s3cret",
		header: hdr("Typeform-Signature", "sha256="+hmacB64(sec, body)), body: body},

	// Zoom
	{name: "Zoom accepts v0= over v0:timestamp:body", scheme: "zoom", params: "secret: s3cret",
		header: hdr("x-zm-request-timestamp", unix(t0), "x-zm-signature", "v0="+hmacHex(sec, "v0:"+unix(t0)+":"+body)), body: body},
	{name: "Zoom refuses a stale request", scheme: "zoom", params: "secret: s3cret", now: t0.Add(time.Hour),
		header: hdr("x-zm-request-timestamp", unix(t0), "x-zm-signature", "v0="+hmacHex(sec, "v0:"+unix(t0)+":"+body)), body: body, want: "timestamp 3600 s old"},

	// Twitch
	{name: "Twitch accepts sha256= over message id, timestamp and body", scheme: "twitch", params: "secret: s3cret",
		header: hdr("Twitch-Eventsub-Message-Id", "m1", "Twitch-Eventsub-Message-Timestamp", "2023-11-14T22:13:20.123456789Z",
			"Twitch-Eventsub-Message-Signature", "sha256="+hmacHex(sec, "m12023-11-14T22:13:20.123456789Z"+body)), body: body},
	{name: "Twitch refuses a message 11 minutes old", scheme: "twitch", params: "secret: s3cret", now: t0.Add(11 * time.Minute),
		header: hdr("Twitch-Eventsub-Message-Id", "m1", "Twitch-Eventsub-Message-Timestamp", "2023-11-14T22:13:20Z",
			"Twitch-Eventsub-Message-Signature", "sha256="+hmacHex(sec, "m12023-11-14T22:13:20Z"+body)), body: body, want: "timestamp 660 s old"},
	{name: "Twitch refuses a changed message id", scheme: "twitch", params: "secret: s3cret",
		header: hdr("Twitch-Eventsub-Message-Id", "m2", "Twitch-Eventsub-Message-Timestamp", "2023-11-14T22:13:20Z",
			"Twitch-Eventsub-Message-Signature", "sha256="+hmacHex(sec, "m12023-11-14T22:13:20Z"+body)), body: body, want: "does not match"},

	// Mailgun
	{name: "Mailgun accepts the signature object of a JSON webhook", scheme: "mailgun", params: "secret: key-1",
		body: `{"signature":{"timestamp":"` + unix(t0) + `","token":"tok","signature":"` + hmacHex("key-1", unix(t0)+"tok") + `"},"event-data":{"id":"ev1"}}`},
	{name: "Mailgun accepts the fields of a form post", scheme: "mailgun", params: "secret: key-1",
		header: hdr("Content-Type", "application/x-www-form-urlencoded"),
		body:   "timestamp=" + unix(t0) + "&token=tok&signature=" + hmacHex("key-1", unix(t0)+"tok") + "&recipient=a%40b"},
	{name: "Mailgun accepts the fields of a multipart form", scheme: "mailgun", params: "secret: key-1",
		header: hdr("Content-Type", "multipart/form-data; boundary=XX"),
		body:   multipartBody("XX", "timestamp", unix(t0), "token", "tok", "signature", hmacHex("key-1", unix(t0)+"tok"))},
	{name: "Mailgun refuses a changed token", scheme: "mailgun", params: "secret: key-1",
		body: `{"signature":{"timestamp":"` + unix(t0) + `","token":"tok2","signature":"` + hmacHex("key-1", unix(t0)+"tok") + `"}}`, want: "does not match"},
	{name: "Mailgun refuses a stale signature", scheme: "mailgun", params: "secret: key-1", now: t0.Add(time.Hour),
		body: `{"signature":{"timestamp":"` + unix(t0) + `","token":"tok","signature":"` + hmacHex("key-1", unix(t0)+"tok") + `"}}`, want: "timestamp 3600 s old"},
	{name: "Mailgun refuses a body without a signature", scheme: "mailgun", params: "secret: key-1", body: body, want: "no signature in the body"},

	// generic hmac
	{name: "hmac accepts sha512, base64 and a prefix", scheme: "hmac", params: "{header: X-Sig, algorithm: sha512, encoding: base64, prefix: 'sha512=', secret: s3cret}",
		header: hdr("X-Sig", "sha512="+base64.StdEncoding.EncodeToString(mac(sha512.New, sec, body))), body: body},
	{name: "hmac accepts sha1 hex", scheme: "hmac", params: "{header: X-Sig, algorithm: sha1, secret: s3cret}",
		header: hdr("X-Sig", hex.EncodeToString(mac(sha1.New, sec, body))), body: body},
	{name: "hmac signs timestamp.body by default when timestamp_header is set", scheme: "hmac", params: "{header: X-Sig, timestamp_header: X-Ts, secret: s3cret}",
		header: hdr("X-Ts", unix(t0), "X-Sig", hmacHex(sec, unix(t0)+"."+body)), body: body},
	{name: "hmac follows a signed template with the id", scheme: "hmac", params: "{header: X-Sig, timestamp_header: X-Ts, id_header: X-Id, signed: 'v1:{{ .ID }}:{{.Timestamp}}:{{.Body}}', secret: s3cret}",
		header: hdr("X-Id", "d1", "X-Ts", unix(t0), "X-Sig", hmacHex(sec, "v1:d1:"+unix(t0)+":"+body)), body: body},
	{name: "hmac refuses a request outside its tolerance", scheme: "hmac", params: "{header: X-Sig, timestamp_header: X-Ts, tolerance: 30s, secret: s3cret}", now: t0.Add(31 * time.Second),
		header: hdr("X-Ts", unix(t0), "X-Sig", hmacHex(sec, unix(t0)+"."+body)), body: body, want: "timestamp 31 s old"},
	{name: "hmac signs a body containing the template's placeholders as bytes", scheme: "hmac", params: "{header: X-Sig, timestamp_header: X-Ts, secret: s3cret}",
		header: hdr("X-Ts", unix(t0), "X-Sig", hmacHex(sec, unix(t0)+".{{.Timestamp}}")), body: "{{.Timestamp}}"},

	// ip
	{name: "ip admits an address inside an allowed CIDR", scheme: "ip", params: "allow: [192.30.252.0/22, '2001:db8::/32']", body: body},
	{name: "ip admits an IPv6 client in an allowed prefix", scheme: "ip", params: "allow: ['2001:db8::/32']", url: "[2001:db8::1]:5555", body: body},
	{name: "ip admits a single listed address", scheme: "ip", params: "allow: [192.30.252.7]", body: body},
	{name: "ip refuses an address outside every CIDR", scheme: "ip", params: "allow: [10.0.0.0/8]", body: body, want: "remote address 192.30.252.7 is not in the allowlist"},
	{name: "ip refuses an IPv4-mapped address outside the list", scheme: "ip", params: "allow: [10.0.0.0/8]", url: "[::ffff:192.30.252.7]:1", body: body, want: "192.30.252.7 is not in the allowlist"},
	{name: "ip admits an IPv4-mapped address inside the list", scheme: "ip", params: "allow: ['::ffff:192.30.252.0/118']", url: "[::ffff:192.30.252.7]:1", body: body},
}

const linearBody = `{"action":"create","type":"Issue","webhookTimestamp":1700000000000}`

func sha256Hex0(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func multipartBody(boundary string, kv ...string) string {
	var b strings.Builder
	w := multipart.NewWriter(&b)
	w.SetBoundary(boundary)
	for i := 0; i+1 < len(kv); i += 2 {
		w.WriteField(kv[i], kv[i+1])
	}
	w.Close()
	return b.String()
}

func TestPresets(t *testing.T) {
	for _, c := range presetCases {
		t.Run(c.name, func(t *testing.T) {
			v := build(t, c.scheme, c.params)
			now := c.now
			if now.IsZero() {
				now = t0
			}
			if _, ok := v.(interface{ setClock(func() time.Time) }); ok {
				at(t, v, now)
			}
			u := c.url
			if u == "" {
				u = "http://postbox.test/hook"
			}
			remote := "192.30.252.7:40000"
			if c.scheme == "ip" && strings.HasPrefix(u, "[") {
				remote, u = u, "http://postbox.test/hook"
			}
			r := post(u, c.header, []byte(c.body))
			r.RemoteAddr = remote
			err := v.Verify(r, []byte(c.body))
			if c.want == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			mustReject(t, err, c.want)
		})
	}
}

func TestSendGridAcceptsAnECDSASignatureOverTimestampAndBody(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	v := at(t, build(t, "sendgrid", "public_key: "+base64.StdEncoding.EncodeToString(der)), t0)
	signed := func(ts, b string) http.Header {
		h := sha256.Sum256([]byte(ts + b))
		sig, err := ecdsa.SignASN1(rand.Reader, priv, h[:])
		if err != nil {
			t.Fatal(err)
		}
		return hdr(sendgridTimestamp, ts, sendgridSignature, base64.StdEncoding.EncodeToString(sig))
	}
	events := `[{"email":"a@b","event":"delivered","sg_event_id":"e1"}]`
	cases := []struct {
		name   string
		header http.Header
		body   string
		want   string
	}{
		{"a signed batch is accepted", signed(unix(t0), events), events, ""},
		{"a changed batch is refused", signed(unix(t0), events), events + "\n", "does not match"},
		{"a changed timestamp is refused", func() http.Header {
			h := signed(unix(t0), events)
			h.Set(sendgridTimestamp, unix(t0.Add(time.Second)))
			return h
		}(), events, "does not match"},
		{"a stale batch is refused", signed(unix(t0.Add(-time.Hour)), events), events, "timestamp 3600 s old"},
		{"an unsigned batch is refused", hdr(sendgridTimestamp, unix(t0)), events, "no " + sendgridSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := v.Verify(post("http://postbox.test/sg", c.header, []byte(c.body)), []byte(c.body))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			mustReject(t, err, c.want)
		})
	}
	pemKey := fmt.Sprintf("|\n  -----BEGIN PUBLIC KEY-----\n  %s\n  -----END PUBLIC KEY-----\n", base64.StdEncoding.EncodeToString(der))
	v = at(t, build(t, "sendgrid", "public_key: "+pemKey), t0)
	if err := v.Verify(post("http://postbox.test/sg", signed(unix(t0), events), []byte(events)), []byte(events)); err != nil {
		t.Fatalf("PEM key: %v", err)
	}
}

func TestDiscordAcceptsAnEd25519SignatureOverTimestampAndBody(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v := at(t, build(t, "discord", "public_key: "+hex.EncodeToString(pub)), t0)
	signed := func(ts, b string) http.Header {
		return hdr("X-Signature-Timestamp", ts, "X-Signature-Ed25519", hex.EncodeToString(ed25519.Sign(priv, []byte(ts+b))))
	}
	ping := `{"type":1,"id":"i1"}`
	cases := []struct {
		name   string
		header http.Header
		body   string
		want   string
	}{
		{"a signed interaction is accepted", signed(unix(t0), ping), ping, ""},
		{"a changed interaction is refused", signed(unix(t0), ping), `{"type":2,"id":"i1"}`, "does not match"},
		{"a stale interaction is refused", signed(unix(t0.Add(-10*time.Minute)), ping), ping, "timestamp 600 s old"},
		{"a short signature is refused", hdr("X-Signature-Timestamp", unix(t0), "X-Signature-Ed25519", "abcd"), ping, "not a hex Ed25519 signature"},
		{"an unsigned interaction is refused", hdr("X-Signature-Timestamp", unix(t0)), ping, "no X-Signature-Ed25519"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := v.Verify(post("http://postbox.test/d", c.header, []byte(c.body)), []byte(c.body))
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			mustReject(t, err, c.want)
		})
	}
}
