package httpcall_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/action/httpcall"
	"github.com/postbox/postbox/config"
)

// uris is an httptest server that records the request-target of every
// request exactly as it arrived on the wire.
type uris struct {
	*httptest.Server
	mu  sync.Mutex
	got []string
}

func newURIs(t *testing.T) *uris {
	t.Helper()
	u := &uris{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.got = append(u.got, r.RequestURI)
		u.mu.Unlock()
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *uris) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.got...)
}

// host is the server's host:port.
func (u *uris) host() string { return strings.TrimPrefix(u.URL, "http://") }

func payloadDelivery(fields map[string]any) *postbox.TemplateData {
	data := delivery([]byte(`{}`), nil)
	data.Payload = fields
	data.Path = map[string]string{}
	for k, v := range fields {
		if s, ok := v.(string); ok {
			data.Path[k] = s
		}
	}
	return data
}

// TestADeliveryCannotChooseWhereACallGoes sends every known way of putting
// another host into a URL through the path, the query and a path wildcard
// of a URL whose host is written out. Each call must reach the configured
// target, with the value escaped, and never the victim.
func TestADeliveryCannotChooseWhereACallGoes(t *testing.T) {
	victim := newURIs(t)
	v := victim.host() // 127.0.0.1:port
	_, port, _ := net.SplitHostPort(v)
	tests := []struct {
		name, tmpl, value, want string
	}{
		{"a path segment that ends the authority with %23", "/t/{{ .Path.x }}/notify", v + "%23", "/t/" + url.PathEscape(v+"%23") + "/notify"},
		{"a path that starts with userinfo", "/{{ .Payload.x }}", "@" + v + "/x", "/@" + v + "%2Fx"},
		{"a fragment", "/t/{{ .Payload.x }}", "#@" + v, "/t/%23@" + v},
		{"a backslash", "/t/{{ .Payload.x }}", `\\` + v + `\x`, "/t/%5C%5C" + v + "%5Cx"},
		{"a scheme-relative reference", "/{{ .Payload.x }}", "//" + v + "/x", "/%2F%2F" + v + "%2Fx"},
		{"an encoded slash", "/t/{{ .Payload.x }}", "..%2F..%2F" + v, "/t/..%252F..%252F" + v},
		{"a query that hides the rest", "/t/{{ .Payload.x }}?a=1", "?@" + v, "/t/%3F@" + v + "?a=1"},
		{"an IPv6 literal", "/t/{{ .Payload.x }}", "@[::1]:" + port + "/x", "/t/@%5B::1%5D:" + port + "%2Fx"},
		{"a port", "/t/{{ .Payload.x }}", ":" + port + "/x", "/t/:" + port + "%2Fx"},
		{"a query value with & and #", "/t?q={{ .Payload.x }}&b=2", "1&host=" + v + "#", "/t?q=1%26host%3D" + url.QueryEscape(v) + "%23&b=2"},
		{"a value after a fragment", "/t#{{ .Payload.x }}", "@" + v, "/t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := newURIs(t)
			a := mustNew(t, httpcall.Config{URL: target.URL + tt.tmpl, Method: "GET",
				Sign: &httpcall.SignConfig{HMAC: &httpcall.HMACConfig{Header: "X-Sig", Secret: "k"}}})
			res := a.Run(context.Background(), payloadDelivery(map[string]any{"x": tt.value}))
			if res.Outcome != postbox.OutcomeOK {
				t.Fatalf("result = %+v, want ok from the configured target", res)
			}
			if got := victim.requests(); len(got) > 0 {
				t.Fatalf("the victim received %q", got)
			}
			if got := target.requests(); len(got) != 1 || got[0] != tt.want {
				t.Errorf("the target received %q, want [%q]", got, tt.want)
			}
		})
	}
}

// TestNewRefusesATemplateInTheOrigin covers the URLs of the finding and
// every other place before the end of the authority where a template
// action could choose the scheme, user, host or port.
func TestNewRefusesATemplateInTheOrigin(t *testing.T) {
	for _, u := range []string{
		"http://{{ .Path.tenant }}.internal.example/notify",
		"http://api.example.com{{ .Payload.path }}",
		"http://api.example.com{{ .Payload.path }}/x",
		"https://example.net:{{ .Payload.port }}/x",
		"https://example.net:80{{ .Payload.port }}/x",
		"http://{{ .Payload.user }}@example.net/",
		"http://user:{{ .Payload.password }}@example.net/",
		"http://[{{ .Payload.ip }}]/",
		"{{ .Payload.callback }}",
		"http{{ .Payload.s }}://example.net/",
		"http:{{ .Payload.x }}//example.net/",
		"http://example.net{{/* a comment is an action too */}}/x",
		"http://example.net{{ if true }}/{{ end }}",
	} {
		t.Run(u, func(t *testing.T) {
			a, err := httpcall.New(httpcall.Config{URL: u})
			if err == nil {
				a.Cleanup()
				t.Fatalf("New accepted %q", u)
			}
			if got := fields(err); len(got) != 1 || got[0] != "url" {
				t.Errorf("New(%q) = %v; want one problem with url", u, err)
			}
			if !strings.Contains(err.Error(), "may not choose") && !strings.Contains(err.Error(), "must begin with") {
				t.Errorf("New(%q) = %v; want it to say that a delivery may not choose the host", u, err)
			}
		})
	}
}

func TestNewAcceptsATemplateAfterTheOrigin(t *testing.T) {
	for _, u := range []string{
		"http://example.net/{{ .Path.x }}",
		"http://example.net?q={{ .Payload.q }}",
		"http://example.net#{{ .Payload.f }}",
		"https://user:pass@example.net:8443/{{ .Path.x }}",
		"http://[::1]:8080/{{ .Path.x }}",
		"http://example.net/{{ raw .Payload.path }}",
		"http://example.net/{{ range .Payload.parts }}{{ . }}/{{ end }}",
	} {
		a, err := httpcall.New(httpcall.Config{URL: u})
		if err != nil {
			t.Errorf("New(%q): %v", u, err)
			continue
		}
		a.Cleanup()
	}
}

func TestCheckNamesTheLineOfATemplateInTheOrigin(t *testing.T) {
	const yml = `
hooks:
  - id: tenant
    path: /t/{tenant}
    actions:
      - http:
          url: "http://{{ .Path.tenant }}.internal.example/notify"
  - id: relay
    actions:
      - http: {url: "http://api.example.com{{ .Payload.path }}"}
`
	_, err := config.Parse("postbox.yaml", []byte(yml), func(string) string { return "" })
	if err == nil {
		t.Fatal("Parse accepted the file")
	}
	for _, want := range []string{
		`postbox.yaml:7: hooks[0] "tenant": actions[0].http.url: "http://{{ .Path.tenant }}.internal.example/notify" takes its scheme, user, host or port from a template`,
		`postbox.yaml:10: hooks[1] "relay": actions[0].http.url: "http://api.example.com{{ .Payload.path }}" takes its scheme, user, host or port from a template`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the problems do not hold\n%s\ngot:\n%s", want, err)
		}
	}
}

// TestURLValuesAreEscapedForTheirPart shows what each kind of template
// action writes into a URL.
func TestURLValuesAreEscapedForTheirPart(t *testing.T) {
	tests := []struct {
		name, tmpl, want string
		payload          map[string]any
	}{
		{"a path value is one segment", "/a/{{ .Payload.v }}", "/a/x%2Fy%3Fz%23w%20v", map[string]any{"v": "x/y?z#w v"}},
		{"a query value is one value", "/a?q={{ .Payload.v }}", "/a?q=x%2Fy%3Fz%23w+v%26r%3D1", map[string]any{"v": "x/y?z#w v&r=1"}},
		{"urlquery is not escaped twice", "/a?q={{ urlquery .Payload.v }}&p={{ .Payload.v | urlquery }}", "/a?q=a+b%26c&p=a+b%26c", map[string]any{"v": "a b&c"}},
		{"raw writes a value as it is", "/a/{{ raw .Payload.v }}", "/a/x/y?z=1", map[string]any{"v": "x/y?z=1"}},
		{"a missing value is empty", "/a/{{ .Payload.none }}/b", "/a//b", map[string]any{}},
		{"a number keeps its digits", "/a/{{ .Payload.n }}", "/a/12.50", map[string]any{"n": json.Number("12.50")}},
		{"printf's result is escaped as a whole", `/a/{{ printf "%s/%s" .Payload.a .Payload.b }}`, "/a/1%2F2", map[string]any{"a": "1", "b": "2"}},
		{"a range writes each item escaped", "/a/{{ range .Payload.l }}{{ . }}/{{ end }}", "/a/x%2F/y%3F/", map[string]any{"l": []any{"x/", "y?"}}},
		{"a query begun in an if escapes what follows for a query", "/a/{{ if .Payload.q }}?q={{ .Payload.q }}{{ end }}&r={{ .Payload.r }}", "/a/?q=1%2F&r=%2F%2B", map[string]any{"q": "1/", "r": "/+"}},
		{"a with writes its value escaped", "/a/{{ with .Payload.v }}{{ . }}{{ end }}", "/a/%2F", map[string]any{"v": "/"}},
		{"a variable is escaped where it is written", "/a/{{ $v := .Payload.v }}{{ $v }}", "/a/%2F", map[string]any{"v": "/"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := newURIs(t)
			a := mustNew(t, httpcall.Config{URL: target.URL + tt.tmpl, Method: "GET"})
			if res := a.Run(context.Background(), payloadDelivery(tt.payload)); res.Outcome != postbox.OutcomeOK {
				t.Fatalf("result = %+v", res)
			}
			if got := target.requests(); len(got) != 1 || got[0] != tt.want {
				t.Errorf("the target received %q, want [%q]", got, tt.want)
			}
		})
	}
}

func TestNewRefusesTemplatesDefinedInAURL(t *testing.T) {
	for _, u := range []string{
		`http://example.net/{{ define "x" }}{{ .Payload.h }}{{ end }}{{ template "x" . }}`,
		`http://example.net/{{ block "x" . }}{{ .Payload.h }}{{ end }}`,
		`http://example.net/{{ template "x" . }}`,
	} {
		if a, err := httpcall.New(httpcall.Config{URL: u}); err == nil {
			a.Cleanup()
			t.Errorf("New accepted %q", u)
		}
	}
}

// TestPrivateDenyRefusesLoopbackAtDialTime calls a real server on
// 127.0.0.1, by address and by a name that resolves to it: with
// private: deny neither call reaches it, and the attempts fail for good.
func TestPrivateDenyRefusesLoopbackAtDialTime(t *testing.T) {
	target := newURIs(t)
	_, port, _ := net.SplitHostPort(target.host())
	for _, u := range []string{target.URL + "/x", "http://localhost:" + port + "/x"} {
		t.Run(u, func(t *testing.T) {
			a := mustNew(t, httpcall.Config{URL: u, Private: httpcall.PrivateDeny})
			res := a.Run(context.Background(), jsonDelivery(`{}`))
			if res.Outcome != postbox.OutcomeError || !res.Permanent || !errors.Is(res.Err, httpcall.ErrPrivateAddress) {
				t.Fatalf("result = %+v, want a permanent error for a private address", res)
			}
		})
	}
	if got := target.requests(); len(got) > 0 {
		t.Fatalf("the target received %q", got)
	}
	// Allowed by default, and by private: allow.
	for _, p := range []string{"", httpcall.PrivateAllow} {
		a := mustNew(t, httpcall.Config{URL: target.URL + "/ok", Private: p})
		if res := a.Run(context.Background(), jsonDelivery(`{}`)); res.Outcome != postbox.OutcomeOK {
			t.Errorf("private: %q: result = %+v, want ok", p, res)
		}
	}
}

func TestTheHostHeaderIsWrittenOut(t *testing.T) {
	_, err := httpcall.New(httpcall.Config{URL: "https://example.net/", Headers: map[string]string{"host": "{{ .Payload.vhost }}"}})
	if got := fields(err); len(got) != 1 || got[0] != "headers.host" {
		t.Errorf("New = %v; want one problem with headers.host", err)
	}
	a := mustNew(t, httpcall.Config{URL: "https://example.net/", Headers: map[string]string{"Host": "api.example.net"}})
	a.Cleanup()
}

func TestPrivateMustBeAllowOrDeny(t *testing.T) {
	_, err := httpcall.New(httpcall.Config{URL: "https://example.net/", Private: "no"})
	if got := fields(err); len(got) != 1 || got[0] != "private" {
		t.Errorf("New = %v; want one problem with private", err)
	}
}
