package httpcall_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/action/httpcall"
	"github.com/postbox/postbox/config"
)

// fields returns the field of every *postbox.FieldError joined in err.
func fields(err error) []string {
	var out []string
	var j interface{ Unwrap() []error }
	errs := []error{err}
	if errors.As(err, &j) {
		errs = j.Unwrap()
	}
	for _, e := range errs {
		var fe *postbox.FieldError
		if errors.As(e, &fe) {
			out = append(out, fe.Field)
		}
	}
	return out
}

func TestNewRejects(t *testing.T) {
	good := "https://example.net/hook"
	sw := func(secret string) *httpcall.SignConfig {
		return &httpcall.SignConfig{StandardWebhooks: &httpcall.StandardWebhooksConfig{Secret: secret}}
	}
	hm := func(c httpcall.HMACConfig) *httpcall.SignConfig { return &httpcall.SignConfig{HMAC: &c} }
	okHMAC := httpcall.HMACConfig{Header: "X-Sig", Secret: "k"}
	tests := []struct {
		name  string
		c     httpcall.Config
		field string
	}{
		{"an empty url", httpcall.Config{}, "url"},
		{"a url of another scheme", httpcall.Config{URL: "ftp://example.net/x"}, "url"},
		{"a url without a host", httpcall.Config{URL: "http:///x"}, "url"},
		{"a url with a bad port", httpcall.Config{URL: "http://example.net:http/"}, "url"},
		{"a url whose scheme comes from a template", httpcall.Config{URL: "{{ .Payload.callback }}"}, "url"},
		{"a url that is not a valid template", httpcall.Config{URL: "https://example.net/{{ .Path.x "}, "url"},
		{"a method with a space", httpcall.Config{URL: good, Method: "PO ST"}, "method"},
		{"the CONNECT method", httpcall.Config{URL: good, Method: "connect"}, "method"},
		{"a negative timeout", httpcall.Config{URL: good, Timeout: -1}, "timeout"},
		{"a header name with a space", httpcall.Config{URL: good, Headers: map[string]string{"X Bad": "v"}}, "headers.X Bad"},
		{"a Content-Length header", httpcall.Config{URL: good, Headers: map[string]string{"content-length": "3"}}, "headers.content-length"},
		{"a header that is not a valid template", httpcall.Config{URL: good, Headers: map[string]string{"X-A": "{{ end }}"}}, "headers.X-A"},
		{"a body that is not a valid template", httpcall.Config{URL: good, Body: ptr("{{ if }}")}, "body"},
		{"an empty sign block", httpcall.Config{URL: good, Sign: &httpcall.SignConfig{}}, "sign"},
		{"two signatures", httpcall.Config{URL: good, Sign: &httpcall.SignConfig{
			StandardWebhooks: &httpcall.StandardWebhooksConfig{Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, HMAC: &okHMAC}}, "sign"},
		{"an empty Standard Webhooks secret", httpcall.Config{URL: good, Sign: sw("")}, "sign.standard_webhooks.secret"},
		{"a Standard Webhooks secret that is not base64", httpcall.Config{URL: good, Sign: sw("whsec_not base64!")}, "sign.standard_webhooks.secret"},
		{"a Standard Webhooks secret with an empty key", httpcall.Config{URL: good, Sign: sw("whsec_")}, "sign.standard_webhooks.secret"},
		{"an hmac without header", httpcall.Config{URL: good, Sign: hm(httpcall.HMACConfig{Secret: "k"})}, "sign.hmac.header"},
		{"an hmac header with a colon", httpcall.Config{URL: good, Sign: hm(httpcall.HMACConfig{Header: "X:Sig", Secret: "k"})}, "sign.hmac.header"},
		{"an hmac with md5", httpcall.Config{URL: good, Sign: hm(httpcall.HMACConfig{Header: "X-Sig", Secret: "k", Algorithm: "md5"})}, "sign.hmac.algorithm"},
		{"an hmac in base32", httpcall.Config{URL: good, Sign: hm(httpcall.HMACConfig{Header: "X-Sig", Secret: "k", Encoding: "base32"})}, "sign.hmac.encoding"},
		{"an hmac without secret", httpcall.Config{URL: good, Sign: hm(httpcall.HMACConfig{Header: "X-Sig"})}, "sign.hmac.secret"},
		{"an hmac prefix with a line break", httpcall.Config{URL: good, Sign: hm(httpcall.HMACConfig{Header: "X-Sig", Secret: "k", Prefix: "a\nb"})}, "sign.hmac.prefix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := httpcall.New(tt.c)
			if err == nil {
				a.Cleanup()
				t.Fatalf("New accepted %+v", tt.c)
			}
			got := fields(err)
			if len(got) != 1 || got[0] != tt.field {
				t.Errorf("New(%+v) = %v; want one problem with field %q, got fields %q", tt.c, err, tt.field, got)
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := httpcall.New(httpcall.Config{Method: "A B", Sign: &httpcall.SignConfig{HMAC: &httpcall.HMACConfig{Algorithm: "md5"}}})
	got := strings.Join(fields(err), ",")
	if want := "method,url,sign.hmac.header,sign.hmac.algorithm,sign.hmac.secret"; got != want {
		t.Errorf("fields = %s, want %s", got, want)
	}
}

func TestNewAccepts(t *testing.T) {
	tests := []httpcall.Config{
		{URL: "http://127.0.0.1:8080/x"},
		{URL: "HTTPS://example.net/{{ .Path.repo }}?e={{ urlquery .Payload.event }}", Method: "patch"},
		{URL: "https://example.net/", Method: "PROPFIND", Body: ptr("")},
		{URL: "https://example.net/", Sign: &httpcall.SignConfig{StandardWebhooks: &httpcall.StandardWebhooksConfig{Secret: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}},
		{URL: "https://example.net/", Sign: &httpcall.SignConfig{HMAC: &httpcall.HMACConfig{Header: "X-Hub-Signature-256", Prefix: "sha256=", Secret: "s", Algorithm: "SHA512", Encoding: "BASE64"}}},
	}
	for _, c := range tests {
		a, err := httpcall.New(c)
		if err != nil {
			t.Errorf("New(%+v): %v", c, err)
			continue
		}
		a.Cleanup()
	}
}

func TestTemplatesAreNamedByField(t *testing.T) {
	a := mustNew(t, httpcall.Config{URL: "https://example.net/", Headers: map[string]string{"X-B": "b", "X-A": "a"}, Body: ptr("{{ .Body }}")})
	var names []string
	for _, tm := range a.Templates() {
		names = append(names, tm.Name())
	}
	if got, want := strings.Join(names, ","), "url,headers.X-A,headers.X-B,body"; got != want {
		t.Errorf("templates = %s, want %s", got, want)
	}
}

func TestConfigBuildsHTTPActions(t *testing.T) {
	const yml = `
hooks:
  - id: relay
    actions:
      - http:
          url: https://example.net/in
          timeout: 5s
          headers: {X-Event: "{{ .Payload.type }}"}
          sign: {standard_webhooks: {secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}}
`
	cfg, err := config.Parse("postbox.yaml", []byte(yml), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	a, ok := cfg.Hooks[0].Actions[0].(*httpcall.Action)
	if !ok || a.Timeout().String() != "5s" {
		t.Fatalf("action = %#v, want an *httpcall.Action with timeout 5s", cfg.Hooks[0].Actions[0])
	}
}

func TestConfigNamesTheLineOfAProblem(t *testing.T) {
	const yml = `
hooks:
  - id: relay
    actions:
      - http:
          url: ftp://example.net/in
      - http:
          url: https://example.net/in
          sign:
            hmac: {header: X-Sig, secret: k, algoritm: sha1}
      - http:
          url: https://example.net/{{ .Paylod.x }}
      - http:
          url: https://example.net/in
          sign:
            standard_webhooks: {secret: "whsec_not base64"}
`
	_, err := config.Parse("postbox.yaml", []byte(yml), func(string) string { return "" })
	if err == nil {
		t.Fatal("Parse accepted the file")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, want := range []struct{ line, field string }{
		{"postbox.yaml:6:", "actions[0].http.url"},
		{"postbox.yaml:10:", "actions[1].http.sign.hmac.algoritm"},
		{"postbox.yaml:12:", "actions[2].http.url"},
		{"postbox.yaml:16:", "actions[3].http.sign.standard_webhooks.secret"},
	} {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, want.line) && strings.Contains(l, want.field)
		}
		if !found {
			t.Errorf("no problem at %s names %s:\n%s", want.line, want.field, err)
		}
	}
}
