// Package mqtt is the action that publishes a message to an MQTT broker:
// a Tasmota plug (cmnd/lamp/POWER), an ESP device listening on a topic,
// Home Assistant. Topic and payload are templates over the delivery.
//
// Connections are kept in a Pool, one per broker and credentials, shared by
// every action that uses them: an action takes its connection from the
// server's postbox.Resources when it is provisioned (so that `postbox
// check`, which only builds, needs no broker), opens it on the first
// publish, re-opens it when lost, and gives it back at Cleanup: the
// connection closes once no action and no publish uses it any more.
package mqtt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/tmpl"
)

// DefaultTimeout is how long a publish may take, connecting included, when
// Config.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// DefaultQoS is the quality of service when Config.QoS is left out: at
// least once, so that the broker acknowledges what postbox counts as done.
const DefaultQoS = 1

// Config is the `mqtt:` block of an action.
type Config struct {
	// Broker is the broker's URL: tcp://host:1883 (or mqtt://), ssl:// or
	// tls:// (or mqtts://) for TLS, ws:// or wss:// for WebSockets. A
	// missing port is 1883, or 8883 with TLS.
	Broker string `yaml:"broker"`
	// Topic is a template; rendered, it must be a topic name (not empty,
	// no + or # wildcards).
	Topic string `yaml:"topic"`
	// Payload is a template. nil (the key left out) publishes the
	// delivery's raw body unchanged.
	Payload *string `yaml:"payload"`
	// QoS is 0, 1 or 2; nil means DefaultQoS.
	QoS *int `yaml:"qos"`
	// Retain asks the broker to keep the message for later subscribers.
	Retain   bool   `yaml:"retain"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// ClientID names the connection at the broker; empty means
	// postbox-<hostname>-<random>. Two connections with one id push each
	// other off the broker.
	ClientID string `yaml:"client_id"`
	// Timeout bounds one publish, connecting included; zero means
	// DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
}

// Action publishes one configured message. Build it with New, then
// Provision it; it is safe for concurrent use.
type Action struct {
	pool *Pool // set by Provision
	// leased is the connection Provision counted this action as a user
	// of; Cleanup gives it back.
	leased  atomic.Pointer[conn]
	key     connKey
	topic   postbox.Template
	payload postbox.Template // nil: the raw body
	qos     byte
	retain  bool
	timeout time.Duration
}

var (
	_ postbox.Action       = (*Action)(nil)
	_ postbox.Provisioner  = (*Action)(nil)
	_ postbox.CleanerUpper = (*Action)(nil)
)

// New compiles c and checks it; it opens nothing. Problems are returned as
// *postbox.FieldError values (joined), Field relative to the block.
func New(c Config) (*Action, error) {
	var errs []error
	a := &Action{qos: DefaultQoS, retain: c.Retain, timeout: c.Timeout}
	if a.timeout <= 0 {
		a.timeout = DefaultTimeout
	}
	if c.Timeout < 0 {
		errs = append(errs, &postbox.FieldError{Field: "timeout", Message: "must not be negative"})
	}
	broker, err := brokerURL(c.Broker)
	if err != nil {
		errs = append(errs, &postbox.FieldError{Field: "broker", Message: err.Error()})
	}
	a.key = connKey{broker: broker, username: c.Username, password: c.Password, clientID: c.ClientID}

	if strings.TrimSpace(c.Topic) == "" {
		errs = append(errs, &postbox.FieldError{Field: "topic", Message: "is empty"})
	} else if t, err := tmpl.Parse("topic", c.Topic); err != nil {
		errs = append(errs, &postbox.FieldError{Field: "topic", Message: "is not a valid template: " + cleanErr(err)})
	} else if err := checkTopic(literal(c.Topic), !strings.Contains(c.Topic, "{{")); err != nil {
		errs = append(errs, &postbox.FieldError{Field: "topic", Message: err.Error()})
	} else {
		a.topic = t
	}

	if c.Payload != nil {
		t, err := tmpl.Parse("payload", *c.Payload)
		if err != nil {
			errs = append(errs, &postbox.FieldError{Field: "payload", Message: "is not a valid template: " + cleanErr(err)})
		}
		a.payload = t
	}
	if c.QoS != nil {
		if *c.QoS < 0 || *c.QoS > 2 {
			errs = append(errs, &postbox.FieldError{Field: "qos", Message: fmt.Sprintf("%d is not 0, 1 or 2", *c.QoS)})
		} else {
			a.qos = byte(*c.QoS)
		}
	}
	if c.Password != "" && c.Username == "" {
		errs = append(errs, &postbox.FieldError{Field: "password", Message: "is set without a username (MQTT sends a password only with one)"})
	}
	if !utf8.ValidString(c.ClientID) || len(c.ClientID) > 65535 || strings.ContainsRune(c.ClientID, 0) {
		errs = append(errs, &postbox.FieldError{Field: "client_id", Message: "must be UTF-8 text of at most 65535 bytes"})
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return a, nil
}

// brokerURL checks a broker URL and adds the scheme's default port.
func brokerURL(s string) (string, error) {
	if strings.TrimSpace(s) == "" {
		return "", errors.New("is empty (e.g. tcp://127.0.0.1:1883)")
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not a broker URL like tcp://127.0.0.1:1883", s)
	}
	port := ""
	switch u.Scheme {
	case "tcp", "mqtt":
		port = "1883"
	case "ssl", "tls", "mqtts":
		port = "8883"
	case "ws", "wss":
		return u.String(), nil // the WebSocket dialer knows its ports
	default:
		return "", fmt.Errorf("%q has scheme %q; use tcp://, mqtt://, ssl://, tls://, mqtts://, ws:// or wss://", s, u.Scheme)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return "", fmt.Errorf("%q has a path or query; a broker URL is scheme://host:port", s)
	}
	if u.User != nil {
		return "", fmt.Errorf("%q holds credentials; set them with the username and password keys", s)
	}
	if u.Port() == "" {
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	u.Path = ""
	return u.String(), nil
}

// literal returns src without its {{ ... }} actions: the text every
// rendered topic contains.
func literal(src string) string {
	var b strings.Builder
	for {
		i := strings.Index(src, "{{")
		if i < 0 {
			b.WriteString(src)
			return b.String()
		}
		b.WriteString(src[:i])
		j := strings.Index(src[i:], "}}")
		if j < 0 {
			return b.String()
		}
		src = src[i+j+2:]
	}
}

// checkTopic checks a topic name for publishing. whole says that s is the
// whole topic (not only its literal parts), so that it may not be empty.
func checkTopic(s string, whole bool) error {
	switch {
	case whole && s == "":
		return errors.New("is empty")
	case strings.ContainsAny(s, "+#"):
		return fmt.Errorf("%q has a wildcard (+ or #); those are for subscribing, not publishing", s)
	case strings.ContainsRune(s, 0):
		return fmt.Errorf("%q contains a NUL character", s)
	case !utf8.ValidString(s):
		return fmt.Errorf("%q is not valid UTF-8", s)
	case len(s) > 65535:
		return errors.New("is longer than 65535 bytes")
	}
	return nil
}

// Templates returns the action's templates, for validation.
func (a *Action) Templates() []postbox.Template {
	out := []postbox.Template{a.topic}
	if a.payload != nil {
		out = append(out, a.payload)
	}
	return out
}

// Kind returns "mqtt".
func (a *Action) Kind() string { return "mqtt" }

// Timeout returns the longest a publish may take.
func (a *Action) Timeout() time.Duration { return a.timeout }

// Run publishes the message once, connecting first when the pool has no
// open connection to the broker. Template and topic errors are permanent;
// connection problems and timeouts are retried.
func (a *Action) Run(ctx context.Context, data *postbox.TemplateData) postbox.Result {
	topic, err := a.topic.Execute(data)
	if err != nil {
		return postbox.Result{Outcome: postbox.OutcomeError, Err: fmt.Errorf("topic: %w", err), Permanent: true}
	}
	if err := checkTopic(topic, true); err != nil {
		return postbox.Result{Outcome: postbox.OutcomeError, Err: fmt.Errorf("topic %w", err), Permanent: true}
	}
	payload := data.Body
	if a.payload != nil {
		if payload, err = a.payload.Execute(data); err != nil {
			return postbox.Result{Outcome: postbox.OutcomeError, Err: fmt.Errorf("payload: %w", err), Permanent: true}
		}
	}

	pctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	if a.pool == nil {
		return postbox.Result{Outcome: postbox.OutcomeError, Err: errNotProvisioned, Permanent: true}
	}
	// The publish counts as a user of the connection: a reload that drops
	// this broker closes it only once the publish is done.
	c, err := a.pool.acquire(a.key)
	if err != nil {
		return postbox.Result{Outcome: postbox.OutcomeError, Err: err}
	}
	defer a.pool.release(a.key, c)
	// A connection that broke since its last use may still look open
	// until paho notices: the publish then fails at once, and is tried
	// again on the reopened connection, within the timeout.
	for try := 1; ; try++ {
		if err := c.ready(pctx); err != nil {
			return a.failed(ctx, pctx, fmt.Errorf("connect to %s: %w", a.key.broker, err), "no connection to %s within timeout %s")
		}
		tok := c.client.Publish(topic, a.qos, a.retain, []byte(payload))
		var err error
		select {
		case <-tok.Done():
			err = tok.Error()
		case <-pctx.Done():
			return a.failed(ctx, pctx, pctx.Err(), "%s did not acknowledge the message within timeout %s")
		}
		if err == nil {
			break
		}
		if try == publishTries || pctx.Err() != nil {
			return postbox.Result{Outcome: postbox.OutcomeError, Err: fmt.Errorf("publish to %s: %w", a.key.broker, err)}
		}
		select {
		case <-time.After(reconnectPoll):
		case <-pctx.Done():
		}
	}
	return postbox.Result{Outcome: postbox.OutcomeOK,
		Output: fmt.Sprintf("published %d bytes to %s (qos %d, retain %t)", len(payload), topic, a.qos, a.retain)}
}

// Provision takes the action's connection from the Pool kept in r,
// counting the action as one of its users until Cleanup: a connection that
// the previous configuration opened to the same broker, with the same
// credentials and client id, is used as it is.
func (a *Action) Provision(r *postbox.Resources) error {
	p, err := SharedPool(r)
	if err != nil {
		return err
	}
	c, err := p.acquire(a.key)
	if err != nil {
		return err
	}
	a.pool = p
	a.leased.Store(c)
	return nil
}

// Cleanup gives the connection back: it is closed once no other action
// uses it and the publishes under way on it have finished.
func (a *Action) Cleanup() error {
	if c := a.leased.Swap(nil); c != nil {
		a.pool.release(a.key, c)
	}
	return nil
}

// errNotProvisioned is a bug: the action was run before Provision.
var errNotProvisioned = errors.New("mqtt: the action was not provisioned with a connection pool")

// publishTries is how many times one Run publishes when the connection
// fails under it.
const publishTries = 3

// failed classifies an error of a publish: a stop from the caller, the
// publish's own timeout (format names the broker and the timeout) or a
// connection problem. All are retryable.
func (a *Action) failed(parent, pctx context.Context, err error, format string) postbox.Result {
	switch {
	case errors.Is(parent.Err(), context.Canceled):
		return postbox.Result{Outcome: postbox.OutcomeError, Err: fmt.Errorf("stopped: %w", parent.Err())}
	case errors.Is(pctx.Err(), context.DeadlineExceeded): // ours, or a shorter one of the caller
		return postbox.Result{Outcome: postbox.OutcomeTimeout, Err: fmt.Errorf(format, a.key.broker, a.timeout)}
	}
	return postbox.Result{Outcome: postbox.OutcomeError, Err: err}
}

func cleanErr(err error) string { return strings.TrimPrefix(err.Error(), "template: ") }
