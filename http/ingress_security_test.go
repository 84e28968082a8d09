package http_test

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestWrongCredentialsAreRefusedBeforeTheBody: a hook whose
// authentication needs no body (token, basic, gitlab, ip) refuses a client
// with wrong credentials as soon as its headers are in: the body, declared
// at 1 MiB and never sent, is neither waited for nor held in memory.
// Checks that need the body (an HMAC) still get it, and a hook of the same
// path that does not need credentials still takes the request.
func TestWrongCredentialsAreRefusedBeforeTheBody(t *testing.T) {
	url, _ := serve(t, `
  - id: token
    path: /token
    auth: {token: {header: X-Token, secret: s3cret}}
  - id: basic
    path: /basic
    auth: {basic: {username: ann, password: pw}}
  - id: gitlab
    path: /gitlab
    auth: {gitlab: {secret: s3cret}}
  - id: ip
    path: /ip
    auth: {ip: {allow: [10.0.0.0/8]}}
  - id: token-and-hmac
    path: /both
    auth:
      token: {header: X-Token, secret: s3cret}
      hmac: {header: X-Sig, secret: s3cret}
  - id: guarded
    path: /shared
    auth: {token: {header: X-Token, secret: s3cret}}
    when: "true"
  - id: open
    path: /shared
`)
	addr := strings.TrimPrefix(url, "http://")
	tests := []struct {
		name, path, header string
		want               int // 0: the server waits for the body
	}{
		{"a wrong token", "/token", "X-Token: wrong\r\n", 401},
		{"no token", "/token", "", 401},
		{"wrong basic credentials", "/basic", "Authorization: Basic YW5uOndyb25n\r\n", 401},
		{"a wrong GitLab token", "/gitlab", "X-Gitlab-Token: wrong\r\n", 401},
		{"an address outside the allowlist", "/ip", "", 401},
		{"a wrong token beside an HMAC", "/both", "X-Token: wrong\r\n", 401},
		{"the right token: the body is waited for", "/token", "X-Token: s3cret\r\n", 0},
		{"the right token beside an HMAC: the body is waited for", "/both", "X-Token: s3cret\r\n", 0},
		{"a wrong token where another hook needs none: the body is waited for", "/shared", "X-Token: wrong\r\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// Long enough for an answer that needs no body; an answer that
			// waits for it never comes.
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err = c.Write([]byte("POST " + tt.path + " HTTP/1.1\r\nHost: x\r\n" + tt.header +
				"Content-Type: application/json\r\nContent-Length: 1048576\r\n\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			switch {
			case tt.want == 0 && err == nil:
				t.Errorf("answered %d before the body came", res.StatusCode)
			case tt.want == 0:
			case err != nil:
				t.Errorf("no answer before the body came (%v), want %d", err, tt.want)
			case res.StatusCode != tt.want:
				t.Errorf("answered %d, want %d", res.StatusCode, tt.want)
			}
		})
	}
}

// TestTheAdminSessionCookieIsNotStored: a browser signed in to the console
// sends its session cookie to the hook listener on the same host too; the
// stored delivery keeps every other cookie, and that one redacted.
func TestTheAdminSessionCookieIsNotStored(t *testing.T) {
	url, db := serve(t, `
  - id: lamp
    path: /hooks/lamp
`)
	tests := []struct {
		name string
		sent []string // Cookie fields
		want []string // as stored
	}{
		{"among other cookies", []string{"theme=dark; postbox_admin=0123abcd; lang=en"}, []string{"theme=dark; postbox_admin=[redacted]; lang=en"}},
		{"alone", []string{"postbox_admin=0123abcd"}, []string{"postbox_admin=[redacted]"}},
		{"twice, in two fields", []string{"a=1;postbox_admin=x", "postbox_admin=y"}, []string{"a=1;postbox_admin=[redacted]", "postbox_admin=[redacted]"}},
		{"a cookie whose name only contains it is kept", []string{"my_postbox_admin=1; postbox_admin_x=2"}, []string{"my_postbox_admin=1; postbox_admin_x=2"}},
		{"other cookies are kept as sent", []string{"session=abc"}, []string{"session=abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", url+"/hooks/lamp", strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header["Cookie"] = tt.sent
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("status %d", res.StatusCode)
			}
			d, err := db.Delivery(t.Context(), res.Header.Get("Postbox-Delivery"))
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Header["Cookie"]; !equalStrings(got, tt.want) {
				t.Errorf("stored Cookie %q, want %q", got, tt.want)
			}
		})
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
