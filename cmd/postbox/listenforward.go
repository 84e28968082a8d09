package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/postbox/postbox/admin"
)

// maxEvent caps one event of the relay feed: a delivery's body, base64,
// with its headers. A larger one is a feed gone wrong.
const maxEvent = 64 << 20

// relayedDelivery is a "delivery" event of the relay feed. Every field
// comes from the network: forwarder.send checks each before use.
type relayedDelivery = admin.RelayEvent

// forwarder sends deliveries to the local target.
type forwarder struct {
	target *url.URL
	retry  int
	http   *http.Client
	out    io.Writer
	now    func() time.Time
}

// hopByHop are the headers that belong to one connection, not to the
// request (RFC 9110, 7.6.1), and those net/http writes itself from the
// request it sends (Host, Content-Length): none is relayed.
var hopByHop = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
	"Host": true, "Content-Length": true,
}

var methodToken = regexp.MustCompile(`^[A-Z]{1,16}$`)

// request builds the request that d becomes at the target: the target's
// scheme, host and path, d's suffix below that path, d's query after the
// target's, d's method, headers (less hop-by-hop ones) and body. A value
// that could take the request elsewhere is refused.
func (f *forwarder) request(ctx context.Context, d *relayedDelivery) (*http.Request, error) {
	if !methodToken.MatchString(d.Method) {
		return nil, fmt.Errorf("method %q is not one to send", d.Method)
	}
	if err := checkSuffix(d.Suffix); err != nil {
		return nil, err
	}
	u := *f.target
	u.RawPath = ""
	if d.Suffix != "" {
		u.Path = strings.TrimSuffix(u.Path, "/") + d.Suffix
	}
	if d.Query != "" {
		q, err := url.ParseQuery(d.Query)
		if err != nil {
			return nil, fmt.Errorf("query %q: %v", d.Query, err)
		}
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, d.Method, u.String(), bytes.NewReader(d.Body))
	if err != nil {
		return nil, err
	}
	if req.URL.Host != f.target.Host || req.URL.Scheme != f.target.Scheme {
		return nil, fmt.Errorf("the delivery would go to %s, not to --forward", req.URL.Redacted()) // never: checked above
	}
	drop := map[string]bool{}
	for _, v := range d.Header.Values("Connection") {
		for _, name := range strings.Split(v, ",") {
			drop[textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name))] = true
		}
	}
	for k, vs := range d.Header {
		ck := textproto.CanonicalMIMEHeaderKey(k)
		if hopByHop[ck] || drop[ck] {
			continue
		}
		req.Header[k] = append([]string(nil), vs...)
	}
	if len(d.Body) == 0 {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	return req, nil
}

// checkSuffix refuses a path suffix that is not a plain path below the
// target's: dot segments, backslashes, control characters, or one that
// does not start with a slash.
func checkSuffix(s string) error {
	if s == "" {
		return nil
	}
	if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "\\?#") || strings.ContainsFunc(s, func(r rune) bool { return isControl(r) }) {
		return fmt.Errorf("path suffix %q is not a path", s)
	}
	for _, seg := range strings.Split(s[1:], "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("path suffix %q climbs out of --forward", s)
		}
	}
	return nil
}

// send forwards d (with up to f.retry retries after a 5xx or no answer)
// and prints one line: time, hook, method and target path, the target's
// status or error, latency, delivery id. It reports whether the target
// answered below 500; a failure does not stop the caller.
func (f *forwarder) send(ctx context.Context, d *relayedDelivery) bool {
	now := f.now
	if now == nil {
		now = time.Now
	}
	start := now()
	req, err := f.request(ctx, d)
	target := d.Suffix
	if req != nil {
		target = req.URL.Path
	}
	status, attempts := "", 0
	var took time.Duration
	ok := false
	for err == nil {
		attempts++
		req, _ = f.request(ctx, d)
		t0 := now()
		var res *http.Response
		res, err = f.http.Do(req)
		took = now().Sub(t0)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20))
			res.Body.Close()
			status = res.Status
			ok = res.StatusCode < 500
		}
		if ok || attempts > f.retry || ctx.Err() != nil {
			break
		}
		if err != nil {
			status = "error: " + errText(err)
		}
		err = nil
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Duration(attempts)*time.Second, 10*time.Second)):
		}
	}
	if err != nil {
		status = "error: " + errText(err)
	}
	tries := ""
	if attempts > 1 {
		tries = fmt.Sprintf("  (%d tries)", attempts)
	}
	fmt.Fprintf(f.out, "%s  %-12s %s %s → %s  %s  %s%s\n", start.Local().Format(time.TimeOnly), line(d.Hook, false),
		line(d.Method, false), line(target, false), line(status, false), took.Round(time.Millisecond), line(d.ID, false), tries)
	return ok
}

// errText is err without Go's "Post \"url\": " prefix.
func errText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// sseEvent is one Server-Sent Event.
type sseEvent struct{ id, name, data string }

// sseReader reads Server-Sent Events, each at most max bytes.
type sseReader struct {
	r      *bufio.Reader
	max    int
	lastID string
}

func newSSEReader(r io.Reader, max int) *sseReader {
	return &sseReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next event with a name or data; comments, retry: and
// unknown fields are skipped (text/event-stream, WHATWG HTML 9.2).
func (s *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data []string
	size := 0
	for {
		ln, err := s.readLine(s.max - size)
		if err != nil {
			return sseEvent{}, err
		}
		size += len(ln)
		if ln == "" {
			if ev.name == "" && data == nil {
				continue
			}
			ev.data = strings.Join(data, "\n")
			ev.id = s.lastID
			return ev, nil
		}
		field, value, _ := strings.Cut(ln, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			ev.name = value
		case "data":
			data = append(data, value)
		case "id":
			if !strings.ContainsRune(value, 0) {
				s.lastID = value
			}
		}
	}
}

// readLine reads one line (without its end: \n, \r\n or \r\n) of at most
// max bytes.
func (s *sseReader) readLine(max int) (string, error) {
	var b []byte
	for {
		chunk, err := s.r.ReadSlice('\n')
		if len(b)+len(chunk) > max {
			return "", fmt.Errorf("an event of the feed is over %d bytes", s.max)
		}
		b = append(b, chunk...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			return "", err
		}
		return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
	}
}
