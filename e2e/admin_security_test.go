package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

// adminSecurityConfig serves the admin on loopback without a token, the
// default that a page of any origin once could drive, and names one more
// host for it.
const adminSecurityConfig = `
listen: 127.0.0.1:0
admin: {listen: 127.0.0.1:0, hosts: [postbox.test]}
data: ./data
hooks:
  - id: lamp
    actions:
      - exec: {command: /bin/true}
`

// TestAdminRefusesCrossOriginAndRebinding drives the built binary's admin
// listener as a hostile page would: a text/plain POST (a "simple" request
// any origin may send), a POST from another origin or another port, and
// requests under a host name that was rebound to 127.0.0.1. Each is
// refused with its status and a JSON reason, the delivery is not
// replayed; the console's own way of asking works.
func TestAdminRefusesCrossOriginAndRebinding(t *testing.T) {
	t.Parallel()
	s := startServer(t, adminSecurityConfig)
	ready := s.waitLog("the admin listener", func(r record) bool { return r["msg"] == "admin ready" })
	addr, _ := ready["addr"].(string)
	_, port, _ := strings.Cut(addr, ":")
	admin := "http://" + addr

	res, _ := s.do(t, request{method: "POST", path: "/hooks/lamp", header: jsonType, body: `{"state":"on"}`})
	id := res.Header.Get("Postbox-Delivery")
	if res.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("the hook answered %d, delivery %q", res.StatusCode, id)
	}
	s.waitAttempt(id)
	replay := fmt.Sprintf(`{"ids":[%q]}`, id)

	send := func(method, path, body string, header map[string]string) (int, string) {
		t.Helper()
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, admin+path, r)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		res, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}

	refused := []struct {
		name   string
		method string
		path   string
		header map[string]string
		status int
		code   string
	}{
		{"a text/plain POST, as a form or fetch of any page sends it", "POST", "/api/replay",
			map[string]string{"Content-Type": "text/plain"}, http.StatusUnsupportedMediaType, "unsupported"},
		{"a POST from another site's page", "POST", "/api/replay",
			map[string]string{"Content-Type": "application/json", "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
			http.StatusForbidden, "forbidden"},
		{"a POST from a page on another port of this host", "POST", "/api/replay",
			map[string]string{"Content-Type": "application/json", "Origin": "http://127.0.0.1:1", "Sec-Fetch-Site": "same-site"},
			http.StatusForbidden, "forbidden"},
		{"a POST under a rebound host name", "POST", "/api/replay",
			map[string]string{"Content-Type": "application/json", "Host": "rebind.attacker.example:" + port, "Sec-Fetch-Site": "same-origin"},
			http.StatusMisdirectedRequest, "misdirected"},
		{"a read under a rebound host name", "GET", "/api/deliveries/" + id,
			map[string]string{"Host": "rebind.attacker.example:" + port}, http.StatusMisdirectedRequest, "misdirected"},
	}
	for _, tt := range refused {
		status, answer := send(tt.method, tt.path, replay, tt.header)
		if status != tt.status || !strings.Contains(answer, `"code":"`+tt.code+`"`) {
			t.Errorf("%s: %d %s, want %d %s", tt.name, status, answer, tt.status, tt.code)
		}
	}
	if d := s.delivery(id); d.Series != 0 {
		t.Fatalf("a refused request replayed the delivery (series %d)", d.Series)
	}
	if r := s.waitLog("the refusal's log line", func(r record) bool {
		return r["msg"] == "admin request refused" && r["host"] == "rebind.attacker.example:"+port
	}); !strings.Contains(fmt.Sprint(r["reason"]), "admin: {hosts:") {
		t.Errorf("the log line does not say how to allow a host: %v", r)
	}

	// What the console sends (same origin, JSON) and what curl sends
	// (neither Origin nor Sec-Fetch-Site) are served, under a listed host too.
	if status, answer := send("GET", "/api/hooks", "", map[string]string{"Host": "postbox.test:" + port}); status != http.StatusOK {
		t.Errorf("a read under the listed host postbox.test: %d %s", status, answer)
	}
	status, answer := send("POST", "/api/replay", replay, map[string]string{"Content-Type": "application/json",
		"Origin": admin, "Sec-Fetch-Site": "same-origin"})
	if status != http.StatusOK || !strings.Contains(answer, `"replayed":["`+id+`"]`) {
		t.Fatalf("the console's replay: %d %s", status, answer)
	}
	eventually(t, 20*time.Second, func() string {
		if d := s.delivery(id); d.Series != 1 || d.State != postbox.StateDone {
			return fmt.Sprintf("the replay has not run: series %d, state %s", d.Series, d.State)
		}
		return ""
	})
}
