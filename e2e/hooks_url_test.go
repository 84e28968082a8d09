package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestTheConsoleShowsHookURLsWithTheBoundPort: with listen: 127.0.0.1:0 the
// hook URLs of /api/hooks name the port the server bound, not 0.
func TestTheConsoleShowsHookURLsWithTheBoundPort(t *testing.T) {
	s := startServer(t, `
listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: @DIR@/data
hooks:
  - id: lamp
    path: /post
`)
	ready := s.waitLog("the admin listener", func(r record) bool { return r["msg"] == "admin ready" })
	res, err := s.client.Get("http://" + fmt.Sprint(ready["addr"]) + "/api/hooks")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var v struct {
		Hooks []struct {
			ID  string `json:"id"`
			URL string `json:"url"`
		} `json:"hooks"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&v) != nil || len(v.Hooks) != 1 {
		t.Fatalf("/api/hooks: %d %+v", res.StatusCode, v)
	}
	if want := s.url + "/post"; v.Hooks[0].URL != want || strings.Contains(v.Hooks[0].URL, ":0/") {
		t.Errorf("hook URL %q, want %q", v.Hooks[0].URL, want)
	}
}
