package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// listenOptions are the flags of postbox listen.
type listenOptions struct {
	from    *url.URL // the public postbox's admin URL, prefix included
	token   string
	hooks   []string
	forward *url.URL
	name    string
	since   string
	replay  []string
	retry   int
	state   string
	timeout time.Duration
	idle    time.Duration // reconnect when the feed sends nothing this long
}

// listenStateFile is what --state keeps: the cursor of the last delivery
// forwarded, for the feed it came from.
type listenStateFile struct {
	From   string `json:"from"`
	Cursor string `json:"cursor"`
}

// runListen follows the relay feed of a public postbox and sends each
// delivery, byte for byte, to a local target: postbox listen.
func runListen(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	o, client, err := parseListen(args, getenv, stderr)
	if err != nil {
		return err
	}
	f := &forwarder{target: o.forward, retry: o.retry, out: stdout,
		http: &http.Client{Timeout: o.timeout, CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // sent once, as the provider did
		}, Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 4}}}
	if len(o.replay) > 0 {
		return replayDeliveries(ctx, o, client, f, stderr)
	}
	l := &listener{o: o, client: client, fwd: f, stderr: stderr}
	if err := l.loadState(); err != nil {
		return err
	}
	return l.run(ctx)
}

func parseListen(args []string, getenv func(string) string, stderr io.Writer) (*listenOptions, *http.Client, error) {
	fs := flag.NewFlagSet("listen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from", "", "the public postbox's admin `URL` (https://hooks.example.com/postbox-admin)")
	token := fs.String("token", "", "an admin `token` with the relay scope (default $POSTBOX_TOKEN)")
	tokenFile := fs.String("token-file", "", "read the token from this `file`")
	var hooks, replay stringList
	fs.Var(&hooks, "hook", "relay only this hook `id` (repeatable; default: every hook the token sees)")
	forward := fs.String("forward", "", "send each delivery to this `URL` (http://127.0.0.1:3000/webhooks)")
	name := fs.String("name", "", "the listener `name` the public postbox records (default: the token's name)")
	since := fs.String("since", "", "first send the deliveries of this long ago (`duration`, e.g. 1h) that this listener has no cursor for")
	fs.Var(&replay, "replay", "send this delivery `id` again and exit (repeatable)")
	retry := fs.Int("retry", 0, "retry a delivery the target failed (5xx or no answer) this many `times`")
	state := fs.String("state", "", "keep the cursor of the last delivery forwarded in this `file`, to resume after a restart")
	caFile := fs.String("ca", "", "trust the CA certificates in this PEM `file` for --from, besides the system's")
	timeout := fs.Duration("timeout", 30*time.Second, "how long the target may take to answer")
	if err := fs.Parse(args); err != nil {
		return nil, nil, exitError(2)
	}
	usageErr := func(format string, a ...any) (*listenOptions, *http.Client, error) {
		fmt.Fprintf(stderr, "postbox listen: "+format+"\n", a...)
		return nil, nil, exitError(2)
	}
	if fs.NArg() > 0 {
		return usageErr("unexpected argument %q", line(fs.Arg(0), false))
	}
	o := &listenOptions{hooks: hooks, name: *name, since: *since, replay: replay, retry: *retry, state: *state,
		timeout: *timeout, idle: 45 * time.Second}
	var err error
	if o.from, err = baseURL(*from); err != nil {
		return usageErr("--from: %v", err)
	}
	if o.forward, err = baseURL(*forward); err != nil {
		return usageErr("--forward: %v", err)
	}
	o.token = *token
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return usageErr("--token-file: %v", err)
		}
		o.token = strings.TrimSpace(string(b))
	}
	if o.token == "" {
		o.token = getenv("POSTBOX_TOKEN")
	}
	if o.token == "" {
		return usageErr("--token, --token-file or $POSTBOX_TOKEN is required: an admin token with the relay scope")
	}
	if o.since != "" {
		if d, err := time.ParseDuration(o.since); err != nil || d <= 0 {
			return usageErr("--since %q: use a duration such as 30m or 1h", o.since)
		}
	}
	if o.retry < 0 || *timeout <= 0 {
		return usageErr("--retry and --timeout must be positive")
	}
	if o.from.Scheme == "http" && !loopbackHost(o.from.Hostname()) {
		fmt.Fprintf(stderr, "postbox listen: warning: %s is plain http: the token and every delivery cross the network unencrypted\n", line(o.from.Redacted(), false))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment
	if *caFile != "" {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return usageErr("--ca: %v", err)
		}
		if !pool.AppendCertsFromPEM(pem) {
			return usageErr("--ca %s: no PEM certificate in it", *caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return o, &http.Client{Transport: tr}, nil
}

// baseURL parses an http(s) URL given on the command line.
func baseURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("is required")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http:// or https:// URL", s)
	}
	if u.User != nil || u.Fragment != "" {
		return nil, fmt.Errorf("%q: no user or #fragment, please", u.Redacted())
	}
	return u, nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// endpoint is the admin API's path p under --from, whose path may be a
// reverse proxy's prefix.
func (o *listenOptions) endpoint(p string, q url.Values) string {
	u := *o.from
	u.Path = strings.TrimSuffix(u.Path, "/") + p
	u.RawPath = ""
	u.RawQuery = q.Encode()
	return u.String()
}

// listener follows the relay feed and forwards what it lists.
type listener struct {
	o      *listenOptions
	client *http.Client
	fwd    *forwarder
	stderr io.Writer
	mu     sync.Mutex
	cursor string // the last delivery forwarded, in the feed's order
}

// cursorSeen is the cursor, for a test watching a follow in progress.
func (l *listener) cursorSeen() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cursor
}

func (l *listener) loadState() error {
	if l.o.state == "" {
		return nil
	}
	b, err := os.ReadFile(l.o.state)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--state: %w", err)
	}
	var st listenStateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("--state %s: %w (delete it to start afresh)", l.o.state, err)
	}
	if st.From != l.o.from.String() {
		fmt.Fprintf(l.stderr, "postbox listen: %s is the cursor of %s, not of --from: starting afresh\n", l.o.state, line(st.From, false))
		return nil
	}
	l.cursor = st.Cursor
	return nil
}

// saveState writes the cursor to --state (a new file renamed over the old
// one, so a crash leaves one or the other).
func (l *listener) saveState() error {
	if l.o.state == "" {
		return nil
	}
	b, _ := json.Marshal(listenStateFile{From: l.o.from.String(), Cursor: l.cursor})
	tmp, err := os.CreateTemp(filepath.Dir(l.o.state), ".postbox-listen-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), l.o.state)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// errFatal marks an answer that reconnecting cannot mend (a wrong token,
// a cursor the server does not know).
type errFatal struct{ error }

// run follows the feed until ctx ends, reconnecting after each disconnect
// with a growing pause, from the last delivery forwarded.
func (l *listener) run(ctx context.Context) error {
	backoff := time.Second
	for {
		connected, err := l.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var fatal errFatal
		if errors.As(err, &fatal) {
			fmt.Fprintf(l.stderr, "postbox listen: %v\n", fatal.error)
			return exitError(1)
		}
		if connected {
			backoff = time.Second
		}
		fmt.Fprintf(l.stderr, "postbox listen: disconnected (%v); reconnecting in %s\n", err, backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// follow opens the feed once and forwards its deliveries until it ends;
// connected says whether the feed answered.
func (l *listener) follow(ctx context.Context) (connected bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q := url.Values{"hook": l.o.hooks}
	if l.o.name != "" {
		q.Set("name", l.o.name)
	}
	if l.cursor == "" && l.o.since != "" {
		q.Set("since", l.o.since)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.o.endpoint("/api/relay", q), nil)
	if err != nil {
		return false, errFatal{err}
	}
	req.Header.Set("Authorization", "Bearer "+l.o.token)
	req.Header.Set("Accept", "text/event-stream")
	if l.cursor != "" {
		req.Header.Set("Last-Event-ID", l.cursor)
	}
	res, err := l.client.Do(req)
	if err != nil {
		return false, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		msg := apiMessage(res)
		switch res.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusBadRequest:
			return false, errFatal{fmt.Errorf("%s: %s: %s", l.o.from.Redacted(), res.Status, msg)}
		}
		return false, fmt.Errorf("%s: %s", res.Status, msg)
	}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return false, errFatal{fmt.Errorf("%s answered %q, not an event stream: is --from the admin listener (with its path prefix)?", l.o.from.Redacted(), line(ct, false))}
	}
	// The feed sends a keep-alive every 15 s: silence longer than idle is a
	// connection that died without a word (a laptop that slept).
	watchdog := time.AfterFunc(l.o.idle, cancel)
	defer watchdog.Stop()
	events := newSSEReader(&touchReader{r: res.Body, touch: func() { watchdog.Reset(l.o.idle) }}, maxEvent)
	for {
		ev, err := events.next()
		if err != nil {
			return true, err
		}
		switch ev.name {
		case "ready":
			var r struct{ Listener string }
			_ = json.Unmarshal([]byte(ev.data), &r)
			fmt.Fprintf(l.stderr, "postbox listen: connected to %s as %s, forwarding to %s\n", line(l.o.from.Redacted(), false),
				line(r.Listener, false), line(l.o.forward.String(), false))
		case "delivery":
			var d relayedDelivery
			if err := json.Unmarshal([]byte(ev.data), &d); err != nil {
				return true, fmt.Errorf("a delivery event that is not JSON: %w", err)
			}
			// The feed is not read while the target takes its time
			// (--timeout, --retry): that silence is not the feed's.
			watchdog.Stop()
			l.fwd.send(ctx, &d)
			watchdog.Reset(l.o.idle)
			if ctx.Err() != nil {
				return true, ctx.Err() // stopped mid-way: sent again on resume
			}
			l.mu.Lock()
			l.cursor = ev.id
			l.mu.Unlock()
			if err := l.saveState(); err != nil {
				fmt.Fprintf(l.stderr, "postbox listen: --state: %v\n", err)
			}
		}
	}
}

// apiMessage is the message of an admin API error answer.
func apiMessage(res *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	var e struct {
		Error struct{ Message string } `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Message != "" {
		return line(e.Error.Message, false)
	}
	return line(truncate(strings.TrimSpace(string(b)), 200), false)
}

// touchReader calls touch after every read that returned bytes.
type touchReader struct {
	r     io.Reader
	touch func()
}

func (t *touchReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		t.touch()
	}
	return n, err
}

// replayDeliveries sends the deliveries of --replay again, one by one.
func replayDeliveries(ctx context.Context, o *listenOptions, client *http.Client, f *forwarder, stderr io.Writer) error {
	base := *o.from
	base.Path = strings.TrimSuffix(base.Path, "/")
	c := &adminClient{base: strings.TrimSuffix(base.String(), "/"), token: o.token, http: client}
	failed := false
	for _, id := range o.replay {
		var d struct {
			ID         string      `json:"id"`
			Hook       string      `json:"hook"`
			Method     string      `json:"method"`
			Path       string      `json:"path"`
			Suffix     string      `json:"suffix"`
			Query      url.Values  `json:"query"`
			Header     http.Header `json:"header"`
			BodyBase64 []byte      `json:"body_base64"`
		}
		if err := c.do(ctx, http.MethodGet, "/api/deliveries/"+url.PathEscape(id), nil, &d); err != nil {
			fmt.Fprintf(stderr, "postbox listen: %v\n", err)
			failed = true
			continue
		}
		rd := relayedDelivery{ID: d.ID, Hook: d.Hook, Method: d.Method, Path: d.Path, Suffix: d.Suffix,
			Query: d.Query.Encode(), Header: d.Header, Body: d.BodyBase64}
		if !f.send(ctx, &rd) {
			failed = true
		}
	}
	if failed {
		return exitError(1)
	}
	return nil
}
