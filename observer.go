package postbox

import "time"

// Observer is told what happens to requests and attempts, for metrics, the
// console's live feed and its list of rejected requests. Calls are made on
// the hot path: implementations must be fast and must not block.
type Observer interface {
	Request(ev RequestEvent)
	Attempt(ev AttemptEvent)
}

// RequestEvent describes one answered request to a hook, accepted or not.
type RequestEvent struct {
	Time     time.Time
	Hook     string // "" when no hook matched
	Method   string
	Path     string
	Remote   string
	Status   int
	Delivery string        // the stored delivery's id; "" when rejected
	Reason   string        // why it was rejected (for logs and the console, never for the client)
	Duration time.Duration // from the start of the handler to the answer
	// Sample is at most the first 4 KiB of a rejected request's body, so
	// that the console can show what was refused without storing it.
	Sample []byte
	Bytes  int // body size
}

// AttemptEvent describes one finished attempt at an action.
type AttemptEvent struct {
	Hook    string
	Attempt Attempt
	Next    State // what the job moved to
	// Destination names what the action talked to (Destination.Name).
	Destination string
	// Received is when the delivery arrived; zero when unknown.
	Received time.Time
	// Last is true for an attempt at the hook's last action: with Next
	// StateDone, the delivery is done.
	Last bool
}

// NopObserver ignores every event.
type NopObserver struct{}

// Request does nothing.
func (NopObserver) Request(RequestEvent) {}

// Attempt does nothing.
func (NopObserver) Attempt(AttemptEvent) {}

// Observers fans events out to several observers.
type Observers []Observer

// Request tells every observer.
func (os Observers) Request(ev RequestEvent) {
	for _, o := range os {
		o.Request(ev)
	}
}

// Attempt tells every observer.
func (os Observers) Attempt(ev AttemptEvent) {
	for _, o := range os {
		o.Attempt(ev)
	}
}
