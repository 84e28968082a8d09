package http_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	phttp "github.com/postbox/postbox/http"
)

// TestRootOK: GET / answers 200 "OK" only when asked (postbox webhook),
// as adnanh/webhook does for its users' health checks.
func TestRootOK(t *testing.T) {
	for _, tc := range []struct {
		name   string
		rootOK bool
		method string
		path   string
		status int
		body   string
	}{
		{"GET / is OK in webhook mode", true, "GET", "/", 200, "OK"},
		{"HEAD / is OK in webhook mode", true, "HEAD", "/", 200, ""},
		{"another path is still not found in webhook mode", true, "GET", "/other", 404, ""},
		{"POST / is OK too, as in webhook", true, "POST", "/", 200, "OK"},
		{"GET / is not found otherwise", false, "GET", "/", 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := phttp.NewServer(phttp.Options{RootOK: tc.rootOK})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			go srv.Serve(ln)
			defer srv.Shutdown(context.Background())
			req, _ := http.NewRequest(tc.method, "http://"+ln.Addr().String()+tc.path, nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tc.status || tc.body != "" && string(body) != tc.body {
				t.Errorf("%s %s = %d %q, want %d %q", tc.method, tc.path, res.StatusCode, body, tc.status, tc.body)
			}
		})
	}
}
