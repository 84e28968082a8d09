package e2e

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// providersConfig has one hook per provider preset, each with an exec
// action that appends its delivery id to @DIR@/runs. One worker runs the
// jobs in the order they were stored, so that once a later delivery's
// action ran, an earlier duplicate's would have too.
const providersConfig = `
listen: 127.0.0.1:0
admin: off
data: ./data
workers: 1
hooks:
  - id: github
    auth: {github: {secret: gh-s3cret}}
    actions: [{exec: {command: /bin/sh, args: ["@TESTDATA@/record.sh"], env: {RUNS: "@DIR@/runs"}}}]
  - id: stripe
    auth: {stripe: {secret: whsec_stripe-s3cret, tolerance: 5m}}
    actions: [{exec: {command: /bin/sh, args: ["@TESTDATA@/record.sh"], env: {RUNS: "@DIR@/runs"}}}]
  - id: slack
    auth: {slack: {secret: slack-s3cret}}
    actions: [{exec: {command: /bin/sh, args: ["@TESTDATA@/record.sh"], env: {RUNS: "@DIR@/runs"}}}]
  - id: standard_webhooks
    auth: {standard_webhooks: {secret: "@SWSECRET@"}}
    actions: [{exec: {command: /bin/sh, args: ["@TESTDATA@/record.sh"], env: {RUNS: "@DIR@/runs"}}}]
  - id: zoom
    auth: {zoom: {secret: zoom-s3cret}}
    actions: [{exec: {command: /bin/sh, args: ["@TESTDATA@/record.sh"], env: {RUNS: "@DIR@/runs"}}}]
  - id: twitch
    auth: {twitch: {secret: twitch-s3cret}}
    actions: [{exec: {command: /bin/sh, args: ["@TESTDATA@/record.sh"], env: {RUNS: "@DIR@/runs"}}}]
`

// swSecret is the Standard Webhooks secret: whsec_ and a base64 key.
var swSecret = "whsec_" + base64.StdEncoding.EncodeToString([]byte("postbox-e2e-standard-webhooks-key"))

// startProviders starts postbox on providersConfig.
func startProviders(t *testing.T) *server {
	t.Helper()
	return startServer(t, strings.ReplaceAll(providersConfig, "@SWSECRET@", swSecret))
}

// provider describes how one provider signs a delivery, written from its
// published documentation, independently of postbox's signature package.
type provider struct {
	name        string // the preset, the hook id, and --provider of postbox sign
	secret      string // as in providersConfig
	timestamped bool   // the signature covers a timestamp checked against a tolerance
	// body returns a JSON body; providers that keep the delivery id in the
	// body (Stripe's event id, Slack's event_id) carry id there.
	body func(id string) string
	// sign returns the headers the provider sends with body: the
	// signature, its timestamp at at, the delivery id (if it travels in a
	// header) and Content-Type, exactly what `postbox sign` prints.
	sign func(secret, id string, at time.Time, body []byte) map[string]string
}

// hmacSHA256 is HMAC-SHA256 of the concatenated parts under key.
func hmacSHA256(key []byte, parts ...string) []byte {
	m := hmac.New(sha256.New, key)
	for _, p := range parts {
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// signingProviders are the four providers of issue 3's end-to-end item.
var signingProviders = []provider{
	{
		// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries
		name: "github", secret: "gh-s3cret",
		body: func(id string) string { return `{"ref":"refs/heads/main","after":"` + id + `","note":"signed"}` },
		sign: func(secret, id string, _ time.Time, body []byte) map[string]string {
			return map[string]string{
				"Content-Type":        "application/json",
				"X-Github-Delivery":   id,
				"X-Hub-Signature-256": "sha256=" + hex.EncodeToString(hmacSHA256([]byte(secret), string(body))),
			}
		},
	},
	{
		// https://docs.stripe.com/webhooks#verify-manually: the whole
		// whsec_ string is the key, the message is "<t>.<body>".
		name: "stripe", secret: "whsec_stripe-s3cret", timestamped: true,
		body: func(id string) string {
			return `{"id":"evt_` + id + `","type":"checkout.session.completed","note":"signed"}`
		},
		sign: func(secret, _ string, at time.Time, body []byte) map[string]string {
			ts := strconv.FormatInt(at.Unix(), 10)
			return map[string]string{
				"Content-Type":     "application/json",
				"Stripe-Signature": "t=" + ts + ",v1=" + hex.EncodeToString(hmacSHA256([]byte(secret), ts, ".", string(body))),
			}
		},
	},
	{
		// https://api.slack.com/authentication/verifying-requests-from-slack
		name: "slack", secret: "slack-s3cret", timestamped: true,
		body: func(id string) string {
			return `{"type":"event_callback","event_id":"Ev` + id + `","event":{"type":"app_mention"},"note":"signed"}`
		},
		sign: func(secret, _ string, at time.Time, body []byte) map[string]string {
			ts := strconv.FormatInt(at.Unix(), 10)
			return map[string]string{
				"Content-Type":              "application/json",
				"X-Slack-Request-Timestamp": ts,
				"X-Slack-Signature":         "v0=" + hex.EncodeToString(hmacSHA256([]byte(secret), "v0:", ts, ":", string(body))),
			}
		},
	},
	{
		// https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md
		name: "standard_webhooks", secret: swSecret, timestamped: true,
		body: func(id string) string { return `{"type":"invoice.paid","data":{"n":"` + id + `"},"note":"signed"}` },
		sign: func(secret, id string, at time.Time, body []byte) map[string]string {
			key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
			if err != nil {
				key = []byte(secret) // a wrong secret need not be base64
			}
			ts := strconv.FormatInt(at.Unix(), 10)
			return map[string]string{
				"Content-Type":      "application/json",
				"Webhook-Id":        id,
				"Webhook-Timestamp": ts,
				"Webhook-Signature": "v1," + base64.StdEncoding.EncodeToString(hmacSHA256(key, id, ".", ts, ".", string(body))),
			}
		},
	},
}

// newID returns a random delivery id as providers send them.
func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// post sends body to path with header and returns the answer's status,
// its Postbox-Delivery and Postbox-Duplicate-Of headers, and its body.
func (s *server) post(t *testing.T, path string, header map[string]string, body string) (status int, id, dupOf, answer string) {
	t.Helper()
	resp, answer := s.do(t, request{method: "POST", path: path, header: header, body: body})
	return resp.StatusCode, resp.Header.Get("Postbox-Delivery"), resp.Header.Get("Postbox-Duplicate-Of"), answer
}

const refused = `{"error":"authentication failed","status":401}` + "\n"

// TestProviderSignatures sends each provider's signed delivery and its
// forgeries to the binary: the genuine one is stored and its action runs
// once; each forgery is answered 401 and leaves nothing in the store.
func TestProviderSignatures(t *testing.T) {
	t.Parallel()
	s := startProviders(t)
	accepted := map[string][]string{} // hook → ids answered 2xx
	for _, p := range signingProviders {
		t.Run(p.name, func(t *testing.T) {
			path := "/hooks/" + p.name
			t.Run("a delivery signed as the provider documents is accepted", func(t *testing.T) {
				id := newID()
				body := p.body(id)
				status, did, _, answer := s.post(t, path, p.sign(p.secret, id, time.Now(), []byte(body)), body)
				if status != 200 || did == "" {
					t.Fatalf("status %d, Postbox-Delivery %q, answer %q; want 200 and an id", status, did, answer)
				}
				accepted[p.name] = append(accepted[p.name], did)
			})
			type forgery struct {
				name   string
				header func(id, body string) map[string]string
				send   func(body string) string // the body sent; nil sends the signed one
			}
			forgeries := []forgery{
				{"a body changed by one byte after signing is refused",
					func(id, body string) map[string]string { return p.sign(p.secret, id, time.Now(), []byte(body)) },
					func(body string) string { return strings.Replace(body, `"signed"`, `"signeD"`, 1) }},
				{"a signature made with another secret is refused",
					func(id, body string) map[string]string {
						return p.sign(p.secret[:len(p.secret)-1]+"X", id, time.Now(), []byte(body))
					}, nil},
				{"a request without a signature is refused",
					func(string, string) map[string]string { return jsonType }, nil},
				{"a signature header with an empty value is refused",
					func(id, body string) map[string]string {
						h := p.sign(p.secret, id, time.Now(), []byte(body))
						for k := range h {
							if strings.Contains(strings.ToLower(k), "signature") {
								h[k] = ""
							}
						}
						return h
					}, nil},
			}
			if p.timestamped {
				forgeries = append(forgeries,
					forgery{"a timestamp 10 minutes old (tolerance 5m), signed correctly, is refused",
						func(id, body string) map[string]string {
							return p.sign(p.secret, id, time.Now().Add(-10*time.Minute), []byte(body))
						}, nil},
					forgery{"a timestamp 10 minutes ahead, signed correctly, is refused",
						func(id, body string) map[string]string {
							return p.sign(p.secret, id, time.Now().Add(10*time.Minute), []byte(body))
						}, nil},
				)
			}
			for _, f := range forgeries {
				t.Run(f.name, func(t *testing.T) {
					id := newID()
					body := p.body(id)
					h := f.header(id, body)
					if f.send != nil {
						body = f.send(body)
					}
					status, did, _, answer := s.post(t, path, h, body)
					if status != 401 || answer != refused || did != "" {
						t.Errorf("status %d, answer %q, Postbox-Delivery %q; want 401, %q and no delivery", status, answer, did, refused)
					}
				})
			}
		})
	}
	// Only the genuine deliveries are stored, and each ran its action once.
	for _, p := range signingProviders {
		for _, id := range accepted[p.name] {
			waitSettled(t, s, 0, id)
		}
		var stored []string
		for _, d := range s.deliveries("--hook", p.name) {
			stored = append(stored, d.ID)
			if d.State != "done" {
				t.Errorf("%s: delivery %s is %s, want done", p.name, d.ID, d.State)
			}
		}
		if fmt.Sprint(stored) != fmt.Sprint(accepted[p.name]) {
			t.Errorf("%s: stored %v, want only the accepted %v", p.name, stored, accepted[p.name])
		}
	}
	runs := countRuns(t, filepath.Join(s.dir, "runs"))
	for _, p := range signingProviders {
		for _, id := range accepted[p.name] {
			if runs[id] != 1 {
				t.Errorf("%s: the action of %s ran %d times, want 1", p.name, id, runs[id])
			}
		}
	}
	total := 0
	for _, ids := range accepted {
		total += len(ids)
	}
	if n := sum(runs); n != total {
		t.Errorf("%d action runs, want one per accepted delivery (%d)", n, total)
	}
}

// TestProviderReplays sends each provider's delivery again, byte for byte
// and re-signed with a fresh timestamp: both are answered 2xx with
// Postbox-Duplicate-Of naming the first, stored as duplicates, and run no
// action. A new delivery id with the same body is a new delivery. The
// server remembers the ids across a restart.
func TestProviderReplays(t *testing.T) {
	t.Parallel()
	s := startProviders(t)
	type sent struct{ id, body, first string }
	firsts := map[string]sent{} // provider → its first delivery
	for _, p := range signingProviders {
		t.Run(p.name, func(t *testing.T) {
			path := "/hooks/" + p.name
			id := newID()
			body := p.body(id)
			first := p.sign(p.secret, id, time.Now().Add(-2*time.Second), []byte(body))
			status, firstID, dupOf, _ := s.post(t, path, first, body)
			if status != 200 || dupOf != "" {
				t.Fatalf("first delivery: status %d, Postbox-Duplicate-Of %q; want 200 and none", status, dupOf)
			}
			waitSettled(t, s, 0, firstID)
			firsts[p.name] = sent{id, body, firstID}

			var dups []string
			for _, again := range []struct {
				name   string
				header map[string]string
			}{
				{"the same request byte for byte", first},
				{"the same delivery id signed again now", p.sign(p.secret, id, time.Now(), []byte(body))},
			} {
				status, dupID, dupOf, answer := s.post(t, path, again.header, body)
				if status != 200 || dupOf != firstID || dupID == "" || dupID == firstID {
					t.Errorf("%s: status %d, Postbox-Delivery %q, Postbox-Duplicate-Of %q, answer %q; want 200, a new id and duplicate of %s",
						again.name, status, dupID, dupOf, answer, firstID)
					continue
				}
				dups = append(dups, dupID)
			}

			// A new delivery id makes a new delivery, even with the same
			// body where the id travels in a header. Its action runs after
			// any the duplicates would have queued (one worker).
			freshID := newID()
			freshBody := body
			if p.name == "stripe" || p.name == "slack" {
				freshBody = p.body(freshID)
			}
			status, fresh, dupOf, _ := s.post(t, path, p.sign(p.secret, freshID, time.Now(), []byte(freshBody)), freshBody)
			if status != 200 || dupOf != "" {
				t.Fatalf("a new delivery id: status %d, Postbox-Duplicate-Of %q; want 200 and none", status, dupOf)
			}
			waitSettled(t, s, 0, fresh)

			runs := countRuns(t, filepath.Join(s.dir, "runs"))
			if runs[firstID] != 1 || runs[fresh] != 1 {
				t.Errorf("the first delivery's action ran %d times and the new one's %d, want 1 each", runs[firstID], runs[fresh])
			}
			for _, dup := range dups {
				if runs[dup] != 0 {
					t.Errorf("the action of duplicate %s ran %d times, want never", dup, runs[dup])
				}
				d := s.delivery(dup)
				if d.State != "duplicate" || d.DuplicateOf != firstID || len(d.Attempts) != 0 {
					t.Errorf("duplicate %s: state %s, duplicate_of %q, %d attempts; want duplicate of %s with none",
						dup, d.State, d.DuplicateOf, len(d.Attempts), firstID)
				}
			}
		})
	}
	s.stop()
	s.restart()
	for _, p := range signingProviders {
		f, ok := firsts[p.name]
		if !ok {
			continue
		}
		h := p.sign(p.secret, f.id, time.Now(), []byte(f.body))
		if status, _, dupOf, _ := s.post(t, "/hooks/"+p.name, h, f.body); status != 200 || dupOf != f.first {
			t.Errorf("%s after a restart: status %d, Postbox-Duplicate-Of %q; want 200 and %s", p.name, status, dupOf, f.first)
		}
	}
}

// TestSignCommand signs with `postbox sign` and sends what it printed: the
// headers are those the test's own implementation computes for the same
// id and time, and the binary accepts them.
func TestSignCommand(t *testing.T) {
	t.Parallel()
	s := startProviders(t)
	dir := t.TempDir()
	for _, p := range signingProviders {
		t.Run(p.name, func(t *testing.T) {
			id := newID()
			body := p.body(id)
			file := filepath.Join(dir, p.name+".json")
			if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			at := time.Now()
			got := signHeaders(t, s, "--provider", p.name, "--secret", p.secret, "--file", file,
				"--id", id, "--time", strconv.FormatInt(at.Unix(), 10))
			want := p.sign(p.secret, id, at, []byte(body))
			// postbox sign also names the event type, as the provider
			// does (X-GitHub-Event: push); the test's signer does not.
			cmp := maps.Clone(got)
			for _, h := range []string{"X-Github-Event", "X-Gitlab-Event", "X-Gitea-Event", "X-Event-Key", "Twitch-Eventsub-Message-Type"} {
				if _, ok := want[h]; !ok {
					delete(cmp, h)
				}
			}
			if p.name == "github" && got["X-Github-Event"] != "push" {
				t.Errorf("postbox sign sent X-GitHub-Event %q, want push", got["X-Github-Event"])
			}
			if fmt.Sprint(cmp) != fmt.Sprint(want) {
				t.Errorf("postbox sign printed\n  %v\nthe provider's scheme gives\n  %v", got, want)
			}
			if status, did, _, answer := s.post(t, "/hooks/"+p.name, got, body); status != 200 || did == "" {
				t.Errorf("status %d, answer %q; want 200 and a delivery", status, answer)
			}
		})
	}
	t.Run("github with a random id and the current time", func(t *testing.T) {
		body := `{"zen":"Keep it logically awesome."}`
		file := filepath.Join(dir, "zen.json")
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		h := signHeaders(t, s, "--provider", "github", "--secret", "gh-s3cret", "--file", file)
		if h["X-Github-Delivery"] == "" || !strings.HasPrefix(h["X-Hub-Signature-256"], "sha256=") {
			t.Fatalf("postbox sign printed %v, want X-GitHub-Delivery and X-Hub-Signature-256", h)
		}
		h["X-GitHub-Event"] = "ping"
		if status, did, _, answer := s.post(t, "/hooks/github", h, body); status != 200 || did == "" {
			t.Errorf("status %d, answer %q; want 200 and a delivery", status, answer)
		}
	})
}

// signHeaders runs `postbox sign` with args and parses the "Name: value"
// lines it prints.
func signHeaders(t *testing.T, s *server, args ...string) map[string]string {
	t.Helper()
	res := s.cli(append([]string{"sign"}, args...)...)
	if res.code != 0 {
		t.Fatalf("postbox sign exited %d: %s", res.code, res.stderr)
	}
	h := map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n") {
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("postbox sign printed %q, not a header line", line)
		}
		h[http.CanonicalHeaderKey(k)] = v
	}
	return h
}

// TestHandshakes sends Zoom's endpoint.url_validation and Twitch's
// webhook_callback_verification: the binary answers them itself once the
// signature checks out, and stores nothing.
func TestHandshakes(t *testing.T) {
	t.Parallel()
	s := startProviders(t)
	zoom := func(secret, body string) map[string]string {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		return map[string]string{
			"Content-Type":           "application/json",
			"X-Zm-Request-Timestamp": ts,
			"X-Zm-Signature":         "v0=" + hex.EncodeToString(hmacSHA256([]byte(secret), "v0:", ts, ":", body)),
		}
	}
	twitch := func(secret, body string) map[string]string {
		id, ts := newID(), time.Now().UTC().Format(time.RFC3339)
		return map[string]string{
			"Content-Type":                      "application/json",
			"Twitch-Eventsub-Message-Id":        id,
			"Twitch-Eventsub-Message-Timestamp": ts,
			"Twitch-Eventsub-Message-Type":      "webhook_callback_verification",
			"Twitch-Eventsub-Message-Signature": "sha256=" + hex.EncodeToString(hmacSHA256([]byte(secret), id, ts, body)),
		}
	}
	zoomBody := `{"event":"endpoint.url_validation","payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680}`
	twitchBody := `{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"type":"channel.follow"}}`

	t.Run("zoom url_validation is answered with the token and its HMAC", func(t *testing.T) {
		status, did, _, answer := s.post(t, "/hooks/zoom", zoom("zoom-s3cret", zoomBody), zoomBody)
		var got map[string]string
		json.Unmarshal([]byte(answer), &got)
		want := hex.EncodeToString(hmacSHA256([]byte("zoom-s3cret"), "qgg8vlvZRS6UYooatFL8Aw"))
		if status != 200 || got["plainToken"] != "qgg8vlvZRS6UYooatFL8Aw" || got["encryptedToken"] != want || did != "" {
			t.Errorf("status %d, answer %q, Postbox-Delivery %q; want 200, the token with encryptedToken %s, no delivery",
				status, answer, did, want)
		}
	})
	t.Run("twitch webhook_callback_verification is answered with the challenge", func(t *testing.T) {
		resp, answer := s.do(t, request{method: "POST", path: "/hooks/twitch", header: twitch("twitch-s3cret", twitchBody), body: twitchBody})
		if resp.StatusCode != 200 || answer != "pogchamp-kappa-360noscope-vohiyo" || resp.Header.Get("Postbox-Delivery") != "" ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("status %d, Content-Type %q, answer %q, Postbox-Delivery %q; want 200, text/plain, the challenge, no delivery",
				resp.StatusCode, resp.Header.Get("Content-Type"), answer, resp.Header.Get("Postbox-Delivery"))
		}
	})
	t.Run("a zoom url_validation signed with another secret is refused", func(t *testing.T) {
		if status, _, _, answer := s.post(t, "/hooks/zoom", zoom("zoom-s3creX", zoomBody), zoomBody); status != 401 || answer != refused {
			t.Errorf("status %d, answer %q; want 401 %q", status, answer, refused)
		}
	})
	t.Run("a twitch challenge without a valid signature is refused", func(t *testing.T) {
		if status, _, _, answer := s.post(t, "/hooks/twitch", twitch("twitch-s3creX", twitchBody), twitchBody); status != 401 || answer != refused {
			t.Errorf("status %d, answer %q; want 401 %q", status, answer, refused)
		}
	})
	t.Run("nothing was stored", func(t *testing.T) {
		if got := s.deliveries(); len(got) != 0 {
			t.Errorf("stored %+v, want nothing", got)
		}
	})
}
