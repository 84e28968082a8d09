// Package httpcall is the action that calls another HTTP service: a
// templated request whose answer decides the outcome (2xx succeeds; 408,
// 429, 5xx and network errors are retried, honouring Retry-After; other
// statuses fail for good). By default it forwards the delivery's raw body
// byte for byte, so that a signature computed by the original sender still
// verifies at the target, and it can sign what it sends (Standard Webhooks
// or a generic HMAC header) for targets that verify postbox itself.
package httpcall

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/tmpl"
)

// DefaultTimeout is how long a call may take, from dialling to the end of
// the response body, when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// DefaultMethod is the method used when Config.Method is empty.
const DefaultMethod = http.MethodPost

// MaxOutput is how much of a response body is kept in the attempt.
const MaxOutput = 64 << 10

// MaxRetryAfter caps the delay a target may ask for with Retry-After, so
// that a buggy or hostile answer cannot park a delivery for years.
const MaxRetryAfter = time.Hour

// Config is the `http:` block of an action.
type Config struct {
	// URL is a template that must render to an http:// or https:// URL.
	// Its scheme, userinfo, host and port must be written out before the
	// first template action; every value a template action writes is
	// escaped for the path or query it lands in (see parseURLTemplate).
	URL string `yaml:"url"`
	// Method defaults to POST.
	Method string `yaml:"method"`
	// Headers are set on the request; their values are templates.
	Headers map[string]string `yaml:"headers"`
	// Body is a template for the request body. nil (the key left out)
	// forwards the delivery's raw body unchanged (none for GET and HEAD);
	// an empty string sends an empty body.
	Body *string `yaml:"body"`
	// Timeout bounds the whole call; zero means DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// Sign, when set, signs the request body.
	Sign *SignConfig `yaml:"sign"`
	// Private is PrivateDeny to refuse connecting to loopback, private,
	// link-local and other non-public addresses, whatever the host name
	// resolves to; empty or PrivateAllow allows them.
	Private string `yaml:"private"`
}

// Action calls one configured HTTP endpoint. Build it with New; it is safe
// for concurrent use and keeps its connections alive between calls.
type Action struct {
	method  string
	url     postbox.Template
	origin  origin // where every call goes: the literal part of url
	headers []header
	body    postbox.Template // nil: the raw body
	timeout time.Duration
	signer  signer
	client  *http.Client
	now     func() time.Time
	// cleanedUp is set by Cleanup: calls still under way then close
	// their connection once done.
	cleanedUp atomic.Bool
}

type header struct {
	name string // canonical
	tmpl postbox.Template
}

var _ postbox.Action = (*Action)(nil)

// headers the transport computes from the body and connection; a value
// configured for them would be ignored or produce a malformed request.
var reservedHeaders = map[string]bool{
	"Content-Length":    true,
	"Transfer-Encoding": true,
	"Connection":        true,
	"Te":                true,
	"Trailer":           true,
	"Upgrade":           true,
}

// New compiles c. Problems are returned as *postbox.FieldError values (joined), Field relative to the block.
func New(c Config) (*Action, error) {
	var errs []error
	a := &Action{method: strings.ToUpper(strings.TrimSpace(c.Method)), timeout: c.Timeout, now: time.Now}
	if a.method == "" {
		a.method = DefaultMethod
	}
	if !isToken(a.method) {
		errs = append(errs, &postbox.FieldError{Field: "method", Message: fmt.Sprintf("%q is not an HTTP method (GET, POST, PUT, PATCH, DELETE, ...)", c.Method)})
	} else if a.method == http.MethodConnect {
		errs = append(errs, &postbox.FieldError{Field: "method", Message: "CONNECT opens a tunnel, not a request; use GET, POST, PUT, PATCH or DELETE"})
	}
	if c.Timeout < 0 {
		errs = append(errs, &postbox.FieldError{Field: "timeout", Message: "must not be negative"})
	}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}

	if strings.TrimSpace(c.URL) == "" {
		errs = append(errs, &postbox.FieldError{Field: "url", Message: "is empty"})
	} else if o, err := literalOrigin(c.URL); err != nil {
		errs = append(errs, &postbox.FieldError{Field: "url", Message: fmt.Sprintf("%q %v", c.URL, err)})
	} else if t, err := parseURLTemplate(c.URL); err != nil {
		errs = append(errs, &postbox.FieldError{Field: "url", Message: "is not a valid template: " + cleanErr(err)})
	} else {
		a.url, a.origin = t, o
	}
	var deny bool
	switch c.Private {
	case "", PrivateAllow:
	case PrivateDeny:
		deny = true
	default:
		errs = append(errs, &postbox.FieldError{Field: "private", Message: fmt.Sprintf("%q is not one of %s, %s", c.Private, PrivateAllow, PrivateDeny)})
	}

	names := make([]string, 0, len(c.Headers))
	for k := range c.Headers {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		field := "headers." + k
		switch {
		case !isToken(k):
			errs = append(errs, &postbox.FieldError{Field: field, Message: "is not a valid header name"})
			continue
		case reservedHeaders[http.CanonicalHeaderKey(k)]:
			errs = append(errs, &postbox.FieldError{Field: field, Message: "is set by postbox from the body and connection; leave it out"})
			continue
		}
		if http.CanonicalHeaderKey(k) == "Host" && strings.Contains(c.Headers[k], "{{") {
			// A proxy or load balancer at the configured address may
			// route by Host: a delivery choosing it would choose the
			// service, as with the host of the url.
			errs = append(errs, &postbox.FieldError{Field: field, Message: "may not be a template: a delivery may not choose the host a call is for"})
			continue
		}
		t, err := tmpl.Parse(field, c.Headers[k])
		if err != nil {
			errs = append(errs, &postbox.FieldError{Field: field, Message: "is not a valid template: " + cleanErr(err)})
			continue
		}
		a.headers = append(a.headers, header{http.CanonicalHeaderKey(k), t})
	}

	if c.Body != nil {
		t, err := tmpl.Parse("body", *c.Body)
		if err != nil {
			errs = append(errs, &postbox.FieldError{Field: "body", Message: "is not a valid template: " + cleanErr(err)})
		} else {
			a.body = t
		}
	}

	if c.Sign != nil {
		s, err := newSigner(*c.Sign)
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = append(errs, j.Unwrap()...) // config reads one level of joined errors
		} else if err != nil {
			errs = append(errs, err)
		}
		a.signer = s
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	a.client = newClient(deny)
	return a, nil
}

func unwrapURLErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// newClient returns the client an action keeps for all its calls: one
// connection pool per action, bounded, and redirects not followed (a
// redirected POST would become a GET without its body, and a signature
// would travel to a host nobody configured). With denyPrivate, every
// address it connects to is checked, and no proxy from the environment is
// used: the check would see the proxy's address, not the target's.
func newClient(denyPrivate bool) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = dialer(denyPrivate).DialContext
	if denyPrivate {
		tr.Proxy = nil
	}
	// The queue caps the calls to a destination (destinations: concurrency,
	// 64 by default, at most the I/O pool's 256); the pool keeps as many
	// connections alive, so that a busy destination is not redialled for
	// every call beyond a few.
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 256
	tr.MaxConnsPerHost = 0
	tr.IdleConnTimeout = 90 * time.Second
	tr.TLSHandshakeTimeout = 10 * time.Second
	tr.ResponseHeaderTimeout = 0 // the call's own timeout covers it
	tr.MaxResponseHeaderBytes = 64 << 10
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// Templates returns the action's templates, for validation.
func (a *Action) Templates() []postbox.Template {
	out := []postbox.Template{a.url}
	for _, h := range a.headers {
		out = append(out, h.tmpl)
	}
	if a.body != nil {
		out = append(out, a.body)
	}
	return out
}

// Kind returns "http".
func (a *Action) Kind() string { return "http" }

// Timeout returns the longest a call may take.
func (a *Action) Timeout() time.Duration { return a.timeout }

var _ postbox.CleanerUpper = (*Action)(nil)

// Cleanup closes the action's kept-alive connections once its configuration
// no longer serves (a reload made new actions, with connections of their
// own); calls still under way finish, and their connections close after
// them. The action stays usable.
func (a *Action) Cleanup() error {
	a.cleanedUp.Store(true)
	a.client.CloseIdleConnections()
	return nil
}

// isToken reports whether s is an RFC 9110 token (method, header name).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func cleanErr(err error) string { return strings.TrimPrefix(err.Error(), "template: ") }
