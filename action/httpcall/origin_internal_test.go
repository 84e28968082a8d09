package httpcall

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/payload"
	"github.com/postbox/postbox/internal/tmpl"
)

// TestARenderedOriginThatDiffersFailsForGood gives an action a URL
// template that New would refuse, as a future change to the static check
// might let through, and shows that the check at the time of the call
// still keeps the call, and its signature, from another host.
func TestARenderedOriginThatDiffersFailsForGood(t *testing.T) {
	var hits atomic.Int32
	victim := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	defer victim.Close()
	host := strings.TrimPrefix(victim.URL, "http://")

	tests := []struct{ name, tmpl, value string }{
		{"a host", "http://{{ .Payload.x }}/notify", host},
		{"a host cut short with #", "http://{{ .Payload.x }}.internal.example/notify", host + "#"},
		{"userinfo", "http://api.example.invalid{{ .Payload.x }}", "@" + host + "/x"},
		{"a port", "http://127.0.0.1{{ .Payload.x }}/", ":" + strings.Split(host, ":")[1]},
		{"a scheme", "{{ .Payload.x }}://api.example.invalid/", "https"},
		{"a user", "http://{{ .Payload.x }}@api.example.invalid/", "admin"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(Config{URL: "http://api.example.invalid/", Sign: &SignConfig{HMAC: &HMACConfig{Header: "X-Sig", Secret: "k"}}})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Cleanup()
			if a.url, err = tmpl.Parse("url", tt.tmpl); err != nil {
				t.Fatal(err)
			}
			data := payload.TemplateData(&postbox.Delivery{ID: "dlv_1", Body: []byte(`{}`)})
			data.Payload = map[string]any{"x": tt.value}
			res := a.Run(context.Background(), data)
			if res.Outcome != postbox.OutcomeError || !res.Permanent || res.Err == nil || !strings.Contains(res.Err.Error(), "may not choose") {
				t.Errorf("result = %+v, want a permanent error saying a delivery may not choose the origin", res)
			}
			if n := hits.Load(); n > 0 {
				t.Fatalf("the victim received %d requests", n)
			}
		})
	}
}

func TestIsPrivate(t *testing.T) {
	for _, tt := range []struct {
		addr    string
		private bool
	}{
		{"127.0.0.1", true},
		{"127.255.0.9", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"10.1.2.3", true},
		{"172.16.0.1", true},
		{"192.168.1.10", true},
		{"169.254.169.254", true}, // cloud metadata
		{"fe80::1", true},
		{"fd00::1", true},
		{"0.0.0.0", true},
		{"::", true},
		{"0.1.2.3", true},
		{"100.64.0.1", true},
		{"224.0.0.1", true},
		{"ff02::1", true},
		{"255.255.255.255", true},
		{"64:ff9b::a9fe:a9fe", true}, // NAT64 of 169.254.169.254
		{"93.184.216.34", false},
		{"2606:2800:220:1:248:1893:25c8:1946", false},
		{"64:ff9b::5db8:d822", false}, // NAT64 of a public address
		{"172.32.0.1", false},
	} {
		if got := isPrivate(netip.MustParseAddr(tt.addr)); got != tt.private {
			t.Errorf("isPrivate(%s) = %t, want %t", tt.addr, got, tt.private)
		}
	}
}

// FuzzURLValuesKeepTheOrigin renders URL templates that New accepts,
// literal text then one of a few template shapes, with arbitrary values,
// and checks that the request always goes to the origin that the URL's
// text before its first {{ names, as net/url reads it. (The templates
// are the operator's; the values are what a delivery controls.)
func FuzzURLValuesKeepTheOrigin(f *testing.F) {
	shapes := []string{
		"{{ .Payload.x }}",
		"{{ raw .Payload.x }}",
		"{{ urlquery .Payload.x }}",
		"{{ .Payload.x }}?q={{ .Payload.x }}#{{ .Payload.x }}",
		"{{ if .Payload.x }}?{{ end }}{{ .Payload.x }}",
		"{{ range .Payload.l }}{{ . }}{{ end }}",
	}
	for _, s := range []struct {
		shape      uint8
		lit, value string
	}{
		{0, "/", "@127.0.0.1:19999/x"},
		{0, "/t/", "127.0.0.1:19999%23"},
		{3, "/", "#@evil"},
		{1, "/", `\\evil/x`},
		{4, "#", "//evil"},
		{5, "?", "[::1]:80"},
		{0, "", "@evil"},
	} {
		f.Add(s.shape, s.lit, s.value)
	}
	f.Fuzz(func(t *testing.T, shape uint8, lit, value string) {
		if strings.Contains(lit, "{{") {
			return
		}
		src := "http://user@example.net:8080" + lit + shapes[int(shape)%len(shapes)]
		a, err := New(Config{URL: src})
		if err != nil {
			return
		}
		defer a.Cleanup()
		// The authority ends at the first /, ? or # after the scheme
		// (RFC 3986, 3.2).
		rest := strings.TrimPrefix(src, "http://")
		end := strings.IndexAny(rest, "/?#")
		if end < 0 || end > strings.Index(rest, "{{") {
			t.Fatalf("New accepted %q, whose authority does not end before the first {{", src)
		}
		want, err := url.Parse("http://" + rest[:end] + "/")
		if err != nil {
			t.Fatalf("New accepted %q, whose authority does not parse: %v", src, err)
		}
		data := payload.TemplateData(&postbox.Delivery{ID: "dlv_1"})
		data.Payload = map[string]any{"x": value, "l": []any{value, value}}
		req, err := a.request(data)
		if err != nil {
			return // refused: nothing is sent
		}
		if req.URL.Scheme != want.Scheme || !strings.EqualFold(req.URL.Host, want.Host) || req.URL.User.String() != want.User.String() {
			t.Fatalf("%q with x=%q goes to %s://%s@%s, not to %s://%s@%s",
				src, value, req.URL.Scheme, req.URL.User, req.URL.Host, want.Scheme, want.User, want.Host)
		}
	})
}
