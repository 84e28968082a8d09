package httpcall

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/postbox/postbox"
)

// drainLimit is how much of an unread response body is discarded so that
// the connection can be reused; past it the connection is closed.
const drainLimit = 256 << 10

// Run makes the call once, with url, headers and body rendered from data.
func (a *Action) Run(ctx context.Context, data *postbox.TemplateData) postbox.Result {
	req, err := a.request(data)
	if err != nil {
		// The same data renders the same way next time: no retry.
		return postbox.Result{Outcome: postbox.OutcomeError, Err: err, Permanent: true}
	}
	cctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	// Runs after the body is closed: the connection has gone back to the
	// idle pool, which Cleanup emptied already.
	defer func() {
		if a.cleanedUp.Load() {
			a.client.CloseIdleConnections()
		}
	}()
	resp, err := a.client.Do(req.WithContext(cctx))
	if err != nil {
		return a.failed(ctx, cctx, err)
	}
	defer resp.Body.Close()

	res := postbox.Result{Status: resp.StatusCode}
	out, truncated, readErr := readBounded(resp.Body, MaxOutput)
	res.Output, res.Truncated = string(out), truncated || readErr != nil
	if !truncated && readErr == nil {
		// Reading to EOF lets the transport reuse the connection.
		io.Copy(io.Discard, io.LimitReader(resp.Body, drainLimit))
	}
	// The status decides, even when the body could not be read to its end:
	// a target that answered 2xx has the request, and calling again would
	// deliver it twice.
	code := resp.StatusCode
	switch {
	case code >= 200 && code < 300:
		res.Outcome = postbox.OutcomeOK
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		res.Outcome = postbox.OutcomeFailed
		res.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), a.now())
		res.Err = fmt.Errorf("HTTP %d %s", code, http.StatusText(code))
	case code >= 300 && code < 400:
		res.Outcome, res.Permanent = postbox.OutcomeFailed, true
		res.Err = fmt.Errorf("HTTP %d %s: redirects are not followed; set url to the target (Location: %q)",
			code, http.StatusText(code), resp.Header.Get("Location"))
	default:
		res.Outcome, res.Permanent = postbox.OutcomeFailed, true
		res.Err = fmt.Errorf("HTTP %d %s: not retried", code, http.StatusText(code))
	}
	return res
}

// failed classifies an error from the client: the call's own timeout, a
// stop from the caller, or a network error (retryable).
func (a *Action) failed(parent, call context.Context, err error) postbox.Result {
	switch {
	case errors.Is(parent.Err(), context.Canceled):
		return postbox.Result{Outcome: postbox.OutcomeError, Err: fmt.Errorf("stopped: %w", parent.Err())}
	case errors.Is(call.Err(), context.DeadlineExceeded):
		// The action's timeout, or a shorter one of the caller (a sync
		// hook's).
		return postbox.Result{Outcome: postbox.OutcomeTimeout, Err: fmt.Errorf("no response within timeout %s", a.timeout)}
	}
	// *url.Error repeats the URL, which may hold a key (IFTTT's does);
	// the attempt records the method and the cause only.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	// A refused address is the configuration's choice: calling again
	// would be refused again.
	permanent := errors.Is(err, ErrPrivateAddress)
	return postbox.Result{Outcome: postbox.OutcomeError, Err: fmt.Errorf("%s: %w", a.method, err), Permanent: permanent}
}

// request renders the request for data.
func (a *Action) request(data *postbox.TemplateData) (*http.Request, error) {
	u, err := a.url.Execute(data)
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	// The origin is checked before anything else is rendered or signed:
	// a call that would go elsewhere gets nothing of it.
	u = strings.TrimSpace(u)
	if err := a.origin.check(u); err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	var body []byte
	switch {
	case a.body != nil:
		s, err := a.body.Execute(data)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		body = []byte(s)
	case a.method != http.MethodGet && a.method != http.MethodHead:
		// The raw body, exactly as received: never re-serialized, so that
		// the sender's signature over it still verifies.
		body = []byte(data.Body)
	}
	req, err := http.NewRequest(a.method, u, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	if len(body) == 0 {
		req.Body, req.GetBody, req.ContentLength = http.NoBody, nil, 0
	}
	req.Header.Set("User-Agent", "postbox")
	for _, h := range a.headers {
		v, err := h.tmpl.Execute(data)
		if err != nil {
			return nil, fmt.Errorf("headers.%s: %w", h.name, err)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return nil, fmt.Errorf("headers.%s: the rendered value contains a line break or NUL", h.name)
		}
		if h.name == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(h.name, v)
	}
	if len(body) > 0 && req.Header.Get("Content-Type") == "" {
		if ct := data.Header.Get("Content-Type"); ct != "" {
			req.Header.Set("Content-Type", ct)
		}
	}
	if a.signer != nil {
		a.signer.sign(req.Header, data.Delivery.ID, a.now(), body)
	}
	return req, nil
}

// readBounded reads at most max bytes of r and reports whether there was
// more.
func readBounded(r io.Reader, max int) ([]byte, bool, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if len(b) > max {
		return b[:max], true, err
	}
	return b, false, err
}

// retryAfter parses a Retry-After value, delay-seconds or an HTTP-date,
// into a delay from now, capped at MaxRetryAfter. Anything else is 0.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), MaxRetryAfter)
}
