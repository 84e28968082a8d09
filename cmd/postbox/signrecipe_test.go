package main

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// githubRecipe returns the README's GitHub recipe, with a deploy command
// that exists here.
func githubRecipe(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)### Source hosting: GitHub.*?```yaml\n(.*?)```").FindSubmatch(readme)
	if m == nil {
		t.Fatal("no GitHub recipe in README.md")
	}
	recipe := strings.Replace(string(m[1]), "/usr/local/bin/deploy", "true", 1)
	return strings.Replace(recipe, "${GITHUB_WEBHOOK_SECRET}", "gh-secret", 1)
}

// What `postbox sign --provider github` prints is what GitHub sends, event
// type included, so that the README's recipe takes it: a push to main runs
// the deploy, GitHub's ping and other events are accepted and run nothing.
func TestTheGitHubRecipeTakesWhatPostboxSignSends(t *testing.T) {
	addr, cfg, _ := startServe(t, githubRecipe(t))
	tests := []struct {
		name   string
		body   string
		args   []string
		status int
		ran    bool
	}{
		{"a push to main (the default event) runs the deploy", `{"ref":"refs/heads/main","after":"abc"}`, nil, 200, true},
		{"GitHub's ping is accepted and runs nothing", `{"zen":"Keep it logically awesome."}`, []string{"--event", "ping"}, 200, false},
		{"a push to another branch is accepted and runs nothing", `{"ref":"refs/heads/dev"}`, nil, 200, false},
		{"a header given with -H is sent", `{"ref":"refs/heads/main","after":"abc"}`, []string{"-H", "X-GitHub-Event: release"}, 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, err := signCmd(t, tt.body, append([]string{"--provider", "github", "--secret", "gh-secret"}, tt.args...)...)
			if err != nil {
				t.Fatal(err)
			}
			h, _ := parseSigned(t, out, tt.body)
			req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/gh/postbox", strings.NewReader(tt.body))
			req.Header = h
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Errorf("status %d, want %d; headers sent %v", res.StatusCode, tt.status, h)
			}
			id := res.Header.Get("Postbox-Delivery")
			if id == "" {
				t.Fatal("no Postbox-Delivery")
			}
			if ran := deliveryActions(t, cfg, id) > 0; ran != tt.ran {
				t.Errorf("actions ran: %v, want %v", ran, tt.ran)
			}
		})
	}
}

// deliveryActions returns the number of actions the stored delivery id
// runs: 0 for one its hook accepted without running any.
func deliveryActions(t *testing.T, cfg, id string) int {
	t.Helper()
	out, stderr, err := postboxCmd(t, "deliveries", "show", "--json", "--config", cfg, id)
	if err != nil {
		t.Fatalf("deliveries show: %v: %s", err, stderr)
	}
	var d struct{ Actions int }
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	return d.Actions
}

func TestSignNamesTheEventOnlyWhereTheProviderDoes(t *testing.T) {
	out, _, err := signCmd(t, "{}", "--provider", "twitch", "--secret", "s3cret-s3cret")
	if err != nil || !strings.Contains(out, "Twitch-Eventsub-Message-Type: notification\n") {
		t.Errorf("twitch: %v\n%s", err, out)
	}
	if _, stderr, err := signCmd(t, "{}", "--provider", "stripe", "--secret", "whsec_test", "--event", "x"); err == nil {
		t.Errorf("stripe --event: no error (%s)", stderr)
	}
}
