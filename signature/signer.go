package signature

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/url"
	"time"
)

// Signer is implemented by verifiers of shared-secret schemes: Sign makes
// what the provider would send for a body, so that `postbox sign` and tests
// can build requests the verifier accepts. It signs with the first secret.
type Signer interface {
	Sign(m *Message) error
}

// Message is one request to sign. The caller sets Body, Now and ID; Sign
// fills Header and Query and may rewrite Body (providers that put the
// signature in the body, such as Mailgun).
type Message struct {
	Body []byte
	// Now is the signing time; the zero value means time.Now().
	Now time.Time
	// ID is the delivery id sent by providers that send one; "" makes one up.
	ID string
	// Header holds the headers the provider sends: signature, timestamp,
	// delivery id and, where the scheme fixes it, Content-Type.
	Header http.Header
	// Query holds parameters the provider adds to the URL (Twilio's
	// bodySHA256).
	Query url.Values
	// Event is the event type, for a provider that names it in a header
	// (X-GitHub-Event, Twitch-Eventsub-Message-Type); "" means the one it
	// sends most (push, notification). See EventHeader.
	Event string
}

// EventHeader is implemented by signers whose provider names the event
// type in a header of every delivery: Sign sets it from Message.Event.
type EventHeader interface {
	// EventHeader returns the header and the event sent when
	// Message.Event is "".
	EventHeader() (name, def string)
}

// event is a provider's event type header.
type event struct{ header, def string }

// EventHeader returns the header and the default event, "" for none.
func (e event) EventHeader() (name, def string) { return e.header, e.def }

// set puts m's event, or the default, in the header.
func (e event) set(m *Message) {
	if e.header == "" {
		return
	}
	v := m.Event
	if v == "" {
		v = e.def
	}
	m.set(e.header, v)
}

func (m *Message) now() time.Time {
	if m.Now.IsZero() {
		m.Now = time.Now()
	}
	return m.Now
}

func (m *Message) id() string {
	if m.ID == "" {
		m.ID = NewID()
	}
	return m.ID
}

func (m *Message) set(name, value string) {
	if m.Header == nil {
		m.Header = http.Header{}
	}
	m.Header.Set(name, value)
}

// NewID returns a random version 4 UUID, the form most providers use for
// delivery ids.
func NewID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// Sign sends the token in the configured header.
func (v *tokenVerifier) Sign(m *Message) error {
	m.set(v.header, string(v.secrets[0]))
	return nil
}
