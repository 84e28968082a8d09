package signature

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

// signerCase configures one shared-secret scheme for the contract every
// Signer keeps: what it signs verifies, and nothing else does.
type signerCase struct {
	// params is a YAML mapping with %s where the secret settings go.
	params string
	// secret and other are two distinct secrets in the scheme's format.
	secret, other string
	// signsBody is false for schemes whose proof does not cover the body
	// (a token sent as is; Mailgun, which signs timestamp and token).
	signsBody bool
	// timed schemes refuse a request signed an hour ago.
	timed bool
	// url is where the signed request is posted.
	url string
}

var signerCases = map[string]signerCase{
	"token":             {params: "{%s}", signsBody: false},
	"hmac":              {params: "{header: X-Sig, timestamp_header: X-Ts, id_header: X-Id, signed: '{{.ID}}.{{.Timestamp}}.{{.Body}}', %s}", signsBody: true, timed: true},
	"github":            {params: "{%s}", signsBody: true},
	"gitlab":            {params: "{%s}"},
	"gitea":             {params: "{%s}", signsBody: true},
	"forgejo":           {params: "{%s}", signsBody: true},
	"bitbucket":         {params: "{%s}", signsBody: true},
	"stripe":            {params: "{%s}", secret: "whsec_abc", other: "whsec_abd", signsBody: true, timed: true},
	"slack":             {params: "{%s}", signsBody: true, timed: true},
	"shopify":           {params: "{%s}", signsBody: true},
	"standard_webhooks": {params: "{%s}", secret: "whsec_a2V5", other: "whsec_b3RoZXI=", signsBody: true, timed: true},
	"svix":              {params: "{%s}", secret: "whsec_a2V5", other: "whsec_b3RoZXI=", signsBody: true, timed: true},
	"twilio":            {params: "{url: 'https://public.example/t', %s}", signsBody: true, url: "http://127.0.0.1:8080/hooks/t"},
	"linear":            {params: "{%s}", signsBody: true, timed: true},
	"paddle":            {params: "{%s}", signsBody: true, timed: true},
	"square":            {params: "{url: 'https://public.example/sq', %s}", signsBody: true},
	"typeform":          {params: "{%s}", signsBody: true},
	"zoom":              {params: "{%s}", signsBody: true, timed: true},
	"twitch":            {params: "{%s}", signsBody: true, timed: true},
	"mailgun":           {params: "{%s}", timed: true},
}

// notSigners verify with a public key, a password or an address: there is
// no shared secret to sign with; webhook_hmac lists several secrets, one
// per header, and is only there for hooks converted from adnanh/webhook.
var notSigners = []string{"basic", "ip", "sendgrid", "discord", "webhook_hmac"}

func (c signerCase) build(t *testing.T, name string, secrets ...string) postbox.Verifier {
	t.Helper()
	set := "secret: " + secrets[0]
	if len(secrets) > 1 {
		set = "secrets: [" + strings.Join(secrets, ", ") + "]"
	}
	return build(t, name, fmt.Sprintf(c.params, set))
}

func (c signerCase) secrets() (string, string) {
	if c.secret == "" {
		return "s3cret", "s3creT"
	}
	return c.secret, c.other
}

func (c signerCase) target() string {
	if c.url == "" {
		return "http://postbox.test/hook"
	}
	return c.url
}

func TestEverySchemeEitherSignsOrIsKnownNotTo(t *testing.T) {
	for _, name := range Names() {
		_, signs := signerCases[name]
		if signs == slices.Contains(notSigners, name) {
			t.Errorf("scheme %q: list it in signerCases or notSigners, exactly once", name)
		}
	}
}

func TestSigners(t *testing.T) {
	bodies := map[string]string{
		"a JSON body": `{"id":"evt_1","event_id":"e1","notification_id":"ntf_1","hello":"world"}`,
		"a form body": "From=%2B1&Body=hi%20there",
	}
	for _, name := range slices.Sorted(maps.Keys(signerCases)) {
		c := signerCases[name]
		secret, other := c.secrets()
		for kind, b := range bodies {
			if name == "linear" && kind == "a form body" {
				continue // Linear sends JSON only: webhookTimestamp lives in it
			}
			t.Run(name+" with "+kind, func(t *testing.T) {
				clocked := func(v postbox.Verifier, now time.Time) postbox.Verifier {
					if _, ok := v.(interface{ setClock(func() time.Time) }); ok {
						at(t, v, now)
					}
					return v
				}
				v := clocked(c.build(t, name, secret), t0)
				r, signed := sign(t, v, c.target(), []byte(b), t0)

				t.Run("what it signs verifies", func(t *testing.T) {
					if err := v.Verify(r, signed); err != nil {
						t.Fatal(err)
					}
				})
				t.Run("the same secret among others verifies (rotation)", func(t *testing.T) {
					rv := clocked(c.build(t, name, other, secret), t0)
					if err := rv.Verify(r, signed); err != nil {
						t.Fatal(err)
					}
				})
				t.Run("another secret refuses it", func(t *testing.T) {
					ov := clocked(c.build(t, name, other), t0)
					mustReject(t, ov.Verify(r, signed), "")
				})
				if name != "mailgun" { // Mailgun's signature is in the body
					t.Run("a request without its headers is refused", func(t *testing.T) {
						bare := post(c.target(), http.Header{"Content-Type": r.Header["Content-Type"]}, signed)
						mustReject(t, v.Verify(bare, signed), "no ")
					})
				}
				if c.signsBody {
					t.Run("a changed body is refused", func(t *testing.T) {
						changed := append(slices.Clone(signed[:len(signed)-1]), signed[len(signed)-1]^1)
						err := v.Verify(r, changed)
						mustReject(t, err, "")
						// The detail names neither the secret nor the
						// signature that would have matched.
						m := &Message{Body: changed, Now: t0}
						if v.(Signer).Sign(m) != nil {
							m.Header = nil // not a body this scheme signs
						}
						for k, vs := range m.Header {
							if strings.Contains(k, "Sig") || strings.Contains(k, "Hmac") {
								if strings.Contains(err.Error(), vs[0]) {
									t.Errorf("detail %q shows the expected %s", err, k)
								}
							}
						}
						if strings.Contains(err.Error(), secret) {
							t.Errorf("detail %q shows the secret", err)
						}
					})
				}
				if c.timed {
					t.Run("an hour later it is refused as stale", func(t *testing.T) {
						late := clocked(c.build(t, name, secret), t0.Add(time.Hour))
						mustReject(t, late.Verify(r, signed), "3600 s old")
					})
				}
			})
		}
	}
}

func TestSignersSendTheDeliveryIDTheyAreGiven(t *testing.T) {
	var senders []string
	for name, c := range signerCases {
		secret, _ := c.secrets()
		v := c.build(t, name, secret)
		id, ok := v.(Identifier)
		if !ok {
			continue
		}
		m := &Message{Body: []byte(`{"webhookTimestamp":1}`), Now: t0, ID: "delivery-7"}
		if err := v.(Signer).Sign(m); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := id.DeliveryKey(post(c.target(), m.Header, m.Body), m.Body)
		sent := false
		for _, vs := range m.Header {
			sent = sent || slices.Contains(vs, "delivery-7")
		}
		if sent {
			senders = append(senders, name)
		}
		// A signer that sends the id in a header is read back by its own
		// verifier; one whose id lives in the body (Stripe's evt_...) reads
		// that, never the id it was not given.
		if sent && got != "delivery-7" || !sent && got == "delivery-7" {
			t.Errorf("%s: sent the id: %v; DeliveryKey = %q", name, sent, got)
		}
	}
	// Pinned, so that a signer that stops sending the id (and would pass the
	// loop above by saying nothing) is noticed.
	slices.Sort(senders)
	want := []string{"bitbucket", "forgejo", "gitea", "github", "gitlab", "hmac", "linear", "shopify", "standard_webhooks", "svix", "twilio", "twitch"}
	if !slices.Equal(senders, want) {
		t.Errorf("signers that send the delivery id they are given: %v, want %v", senders, want)
	}
}
