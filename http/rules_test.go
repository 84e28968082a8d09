package http_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postbox/postbox"
	phttp "github.com/postbox/postbox/http"
)

func TestHooksSharingAPathAreChosenByTheirConditions(t *testing.T) {
	url, db := serve(t, `
  - id: opened
    path: /gh
    vars: {action: payload.action}
    when: vars.action == "opened" && header["x-github-event"] == "pull_request"
    response: {body: "opened {{ .Vars.action }}"}
  - id: closed
    path: /gh
    when: payload.action == "closed"
    response: {body: "closed"}
`)
	tests := []struct {
		name, body, event string
		status            int
		answer, hook      string
	}{
		{"the first matching hook takes the request, its header name in any case", `{"action":"opened"}`, "pull_request", 200, "opened opened", "opened"},
		{"a later hook takes what the first refuses", `{"action":"closed"}`, "pull_request", 200, "closed", "closed"},
		{"another event is no match", `{"action":"opened"}`, "issues", 422, "", ""},
		{"no match is 422", `{"action":"edited"}`, "pull_request", 422, "", ""},
		{"a missing field is no match, not an error", `{}`, "pull_request", 422, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := post(t, url+"/gh", tt.body, map[string]string{"Content-Type": "application/json", "X-GitHub-Event": tt.event})
			if res.StatusCode != tt.status {
				t.Fatalf("status %d (%s), want %d", res.StatusCode, body, tt.status)
			}
			if tt.answer != "" && body != tt.answer {
				t.Errorf("answer %q, want %q", body, tt.answer)
			}
			if tt.hook != "" {
				d, err := db.Delivery(t.Context(), res.Header.Get(phttp.DeliveryHeader))
				if err != nil || d.HookID != tt.hook {
					t.Errorf("stored under %v (%v), want %s", d, err, tt.hook)
				}
			}
		})
	}
}

func TestOnUnmatchedAcceptStoresWithoutActions(t *testing.T) {
	url, db := serve(t, `
  - id: only-on
    when: payload.state == "on"
    on_unmatched: accept
    actions:
      - exec: {command: "true"}
`)
	res, _ := post(t, url+"/hooks/only-on", `{"state":"off"}`, map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != 200 {
		t.Fatalf("status %d", res.StatusCode)
	}
	d, err := db.Delivery(t.Context(), res.Header.Get(phttp.DeliveryHeader))
	if err != nil || d.Actions != 0 || d.State != "done" {
		t.Errorf("stored %+v (%v), want done with no actions", d, err)
	}
}

func TestAcceptRefusesOtherContentTypes(t *testing.T) {
	url, _ := serve(t, `
  - id: j
    accept: [application/json, text/*]
`)
	for ct, want := range map[string]int{
		"application/json; charset=utf-8":   200,
		"text/plain":                        200,
		"application/x-www-form-urlencoded": 415,
		"":                                  415,
	} {
		res, body := post(t, url+"/hooks/j", `{}`, map[string]string{"Content-Type": ct})
		if res.StatusCode != want {
			t.Errorf("Content-Type %q: %d %s, want %d", ct, res.StatusCode, body, want)
		}
	}
}

func TestASchemaViolationIsAnswered422WithItsProblems(t *testing.T) {
	dir := t.TempDir()
	data, _ := os.ReadFile("testdata/lamp.schema.json")
	os.WriteFile(filepath.Join(dir, "lamp.schema.json"), data, 0o600)
	url, db := serve(t, `
  - id: lamp
    schema: `+filepath.Join(dir, "lamp.schema.json")+`
`)
	res, _ := post(t, url+"/hooks/lamp", `{"state":"on"}`, map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != 200 {
		t.Fatalf("valid payload: %d", res.StatusCode)
	}
	res, body := post(t, url+"/hooks/lamp", `{"state":"dim","brightness":500}`, map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("invalid payload: %d", res.StatusCode)
	}
	var answer struct {
		Problems []struct{ Path, Message string }
	}
	if err := json.Unmarshal([]byte(body), &answer); err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, p := range answer.Problems {
		paths = append(paths, p.Path)
	}
	if got := strings.Join(paths, " "); !strings.Contains(got, "/state") || !strings.Contains(got, "/brightness") {
		t.Errorf("problems %+v, want /state and /brightness", answer.Problems)
	}
	all, _ := db.Deliveries(t.Context(), postboxFilter())
	if len(all) != 1 {
		t.Errorf("%d deliveries stored, want only the valid one", len(all))
	}
}

func postboxFilter() postbox.DeliveryFilter { return postbox.DeliveryFilter{} }

// A request that carries one hook's credential but is taken by another hook
// of the path is stored with that credential redacted too.
func TestCredentialsRedactedWhicheverHookTakesTheRequest(t *testing.T) {
	url, db := serve(t, `
  - id: on
    path: /hooks/lamp
    auth: {token: {header: X-Lamp-Token, secret: s3cret}}
    when: payload.state == "on"
  - id: rest
    path: /hooks/lamp
`)
	res, body := post(t, url+"/hooks/lamp", `{"state":"off"}`, map[string]string{"Content-Type": "application/json", "X-Lamp-Token": "s3cret"})
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	d, err := db.Delivery(t.Context(), res.Header.Get(phttp.DeliveryHeader))
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Header.Get("X-Lamp-Token"); got != "[redacted]" {
		t.Errorf("stored X-Lamp-Token %q under hook %s, want [redacted]", got, d.HookID)
	}
}

func TestConditionsSeeTheClientsIPAsRemote(t *testing.T) {
	url, _ := serve(t, `
  - id: local
    when: remote == "127.0.0.1" && remote_addr.startsWith("127.0.0.1:")
`)
	res, body := post(t, url+"/hooks/local", `{}`, map[string]string{"Content-Type": "application/json"})
	if res.StatusCode != 200 {
		t.Errorf("a request from 127.0.0.1: %d %s, want 200 (remote is the IP, remote_addr has the port)", res.StatusCode, body)
	}
}
