package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/postbox/postbox/internal/testenv"
	"github.com/postbox/postbox/signature"
)

// signCmd runs `postbox sign` with args and body on stdin.
func signCmd(t *testing.T, body string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = runSign(args, strings.NewReader(body), &out, &errOut)
	return out.String(), errOut.String(), err
}

// parseSigned reads sign's output: header lines, then optionally a blank
// line and the body the scheme rewrote.
func parseSigned(t *testing.T, out, body string) (http.Header, string) {
	t.Helper()
	h := http.Header{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			rest := out[strings.Index(out, "\n\n")+2:]
			return h, strings.TrimSuffix(rest, "\n")
		}
		k, v, ok := strings.Cut(line, ": ")
		if !ok {
			t.Fatalf("line %q is not Name: value", line)
		}
		h.Add(k, v)
	}
	return h, body
}

var queryNote = regexp.MustCompile(`adds \?(\S+) to the URL`)

// signParams is what each provider needs beyond --secret.
var signParams = map[string][]string{
	"hmac":              {"--param", "header=X-Signature", "--param", "timestamp_header=X-Timestamp"},
	"stripe":            {"--secret", "whsec_test"},
	"standard_webhooks": {"--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	"svix":              {"--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	"twilio":            {"--url", "https://public.example/hooks/sms"},
	"square":            {"--url", "https://public.example/hooks/square"},
}

func TestWhatPostboxSignPrintsVerifiesWithTheSameScheme(t *testing.T) {
	const body = `{"id":"evt_1","event_id":"e1","type":"ping"}`
	providers := signers()
	if len(providers) < 15 {
		t.Fatalf("only %d providers sign: %v", len(providers), providers)
	}
	for _, name := range providers {
		for _, b := range []string{body, "From=%2B1&Body=hello"} {
			if name == "linear" && !strings.HasPrefix(b, "{") {
				continue // Linear sends JSON only
			}
			t.Run(name+" "+b[:4], func(t *testing.T) {
				args := []string{"--provider", name, "--secret", "s3cret"}
				args = append(args, signParams[name]...)
				out, errOut, err := signCmd(t, b, args...)
				if err != nil {
					t.Fatalf("sign: %v\n%s", err, errOut)
				}
				h, sent := parseSigned(t, out, b)
				if len(h) == 0 {
					t.Fatalf("no headers in %q", out)
				}
				target := "http://127.0.0.1:8080/hooks/x"
				if m := queryNote.FindStringSubmatch(errOut); m != nil {
					target += "?" + m[1]
				}

				// The verifier is built from the same settings, as a hook's
				// auth: block would give them.
				var p [][2]string
				set := func(k, v string) { // a repeated flag overrides
					for i := range p {
						if p[i][0] == k {
							p[i][1] = v
							return
						}
					}
					p = append(p, [2]string{k, v})
				}
				for i := 0; i+1 < len(args); i += 2 {
					switch args[i] {
					case "--secret", "--url":
						set(args[i][2:], args[i+1])
					case "--param":
						k, v, _ := strings.Cut(args[i+1], "=")
						set(k, v)
					}
				}
				s, _ := signature.Lookup(name)
				v, err := s.New(decodeParams(p))
				if err != nil {
					t.Fatal(err)
				}
				r := httptest.NewRequest(http.MethodPost, target, strings.NewReader(sent))
				r.Header = h
				if err := v.Verify(r, []byte(sent)); err != nil {
					t.Fatalf("%s refuses what postbox sign printed: %v\n%s", name, err, out)
				}
				if name != "gitlab" && name != "token" && name != "mailgun" {
					if err := v.Verify(r, []byte(sent+" ")); err == nil {
						t.Fatalf("%s accepts a changed body", name)
					}
				}
			})
		}
	}
}

func TestPostboxSignIsDeterministicWithTimeAndID(t *testing.T) {
	out, _, err := signCmd(t, "Hello, World!", "--provider", "github", "--secret", "It's a Secret to Everybody", "--id", "d-1", "--time", "1700000000")
	if err != nil {
		t.Fatal(err)
	}
	want := "X-Github-Delivery: d-1\nX-Github-Event: push\nX-Hub-Signature-256: sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17\n"
	if out != want {
		t.Fatalf("got\n%s\nwant (GitHub's documented example)\n%s", out, want)
	}
}

func TestPostboxSignRefusesWhatItCannotSign(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"a provider that checks a public key", []string{"--provider", "discord"}, "no shared secret"},
		{"an unknown provider", []string{"--provider", "nope", "--secret", "s"}, `no provider "nope"`},
		{"a preset without its secret", []string{"--provider", "github"}, "--secret is empty"},
		{"Square without its url", []string{"--provider", "square", "--secret", "s"}, "--url is empty"},
		{"a misspelt parameter", []string{"--provider", "github", "--secret", "s", "--param", "allow_sha=true"}, "unknown parameter allow_sha"},
		{"hmac without its header", []string{"--provider", "hmac", "--secret", "s"}, "--param header is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := signCmd(t, "{}", c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v; want it to say %q", err, c.want)
			}
		})
	}
	if _, _, err := signCmd(t, "{}"); exitCode(err) != 2 {
		t.Fatalf("no --provider: err = %v; want usage and exit status 2", err)
	}
}

func TestTheCurlCommandPostboxSignPrintsIsAccepted(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		testenv.Skip(t, "curl is not installed")
	}
	const secret = "whsec_test"
	s, _ := signature.Lookup("stripe")
	v, err := s.New(decodeParams([][2]string{{"secret", secret}}))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if err := v.Verify(r, b); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "SUCCESS")
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "event.json")
	os.WriteFile(file, []byte(`{"id":"evt_1","note":"it's"}`), 0o600)
	out, _, err := signCmd(t, "", "--provider", "stripe", "--secret", secret, "--file", file, "--curl", srv.URL+"/hooks/stripe")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30e9)
	defer cancel()
	res, err := exec.CommandContext(ctx, "sh", "-c", out).CombinedOutput()
	if err != nil || string(res) != "SUCCESS" {
		t.Fatalf("curl: %v: %s\ncommand:\n%s", err, res, out)
	}
}

func TestSignedDeliveriesAreAcceptedByTheServerAndTamperedOnesRefused(t *testing.T) {
	addr, _, _ := startServe(t, `hooks:
  - id: gh
    auth: {github: {secret: gh-secret}}
  - id: stripe
    auth: {stripe: {secret: whsec_test}}
  - id: slack
    auth: {slack: {secret: slack-secret}}
  - id: sw
    auth: {standard_webhooks: {secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}}
`)
	const body = `{"id":"evt_1","type":"ping"}`
	for _, c := range []struct{ hook, provider, secret string }{
		{"gh", "github", "gh-secret"},
		{"stripe", "stripe", "whsec_test"},
		{"slack", "slack", "slack-secret"},
		{"sw", "standard_webhooks", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
	} {
		out, _, err := signCmd(t, body, "--provider", c.provider, "--secret", c.secret)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := parseSigned(t, out, body)
		postStatus := func(b string, h http.Header) int {
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/hooks/"+c.hook, strings.NewReader(b))
			req.Header = h
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res.StatusCode
		}
		t.Run(c.provider+": a signed delivery is accepted", func(t *testing.T) {
			if got := postStatus(body, h); got/100 != 2 {
				t.Fatalf("status %d", got)
			}
		})
		t.Run(c.provider+": a tampered delivery is refused", func(t *testing.T) {
			if got := postStatus(strings.Replace(body, "ping", "pong", 1), h); got != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", got)
			}
		})
		t.Run(c.provider+": an unsigned delivery is refused", func(t *testing.T) {
			if got := postStatus(body, http.Header{"Content-Type": {"application/json"}}); got != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", got)
			}
		})
	}
}
