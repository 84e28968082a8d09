package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbox/postbox/internal/testenv"
)

// destEndpoint is a destination of http actions, in the test process: one
// httptest server, so one destination (http://127.0.0.1:port) to postbox.
// It records every call as it arrives: when, the "id" of its JSON body
// and how many calls were in flight with it.
type destEndpoint struct {
	*httptest.Server
	hang   bool          // answer only when the test ends (or unblock is called)
	delay  time.Duration // wait this long before answering
	status atomic.Int32  // the status to answer; 0 means 200

	unblocked chan struct{}
	unblock   func() // lets hanging calls answer; safe to call twice

	mu       sync.Mutex
	arrivals []destArrival
	inFlight int
}

// destArrival is one call to a destEndpoint.
type destArrival struct {
	at         time.Time
	id         string // the JSON body's "id"
	delivery   string // the X-Delivery header: postbox's delivery id
	concurrent int    // calls in flight with this one, itself included
	status     int    // what it was answered
}

// newDestEndpoint starts an endpoint that answers status after delay, or
// never when hang is set. It is closed when the test ends.
func newDestEndpoint(t *testing.T, hang bool, delay time.Duration, status int) *destEndpoint {
	t.Helper()
	e := &destEndpoint{hang: hang, delay: delay, unblocked: make(chan struct{})}
	e.status.Store(int32(status))
	var once sync.Once
	e.unblock = func() { once.Do(func() { close(e.unblocked) }) }
	e.Server = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.Close)
	// Cleanups run last first: let hanging calls go before Close waits
	// for them.
	t.Cleanup(e.unblock)
	return e
}

func (e *destEndpoint) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var payload struct {
		ID string `json:"id"`
	}
	json.Unmarshal(body, &payload)
	status := int(e.status.Load())
	if status == 0 {
		status = http.StatusOK
	}
	e.mu.Lock()
	e.inFlight++
	i := len(e.arrivals)
	e.arrivals = append(e.arrivals, destArrival{at: time.Now(), id: payload.ID,
		delivery: r.Header.Get("X-Delivery"), concurrent: e.inFlight, status: status})
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.inFlight--
		e.mu.Unlock()
	}()
	if e.hang {
		select {
		case <-r.Context().Done():
		case <-e.unblocked:
		}
		return
	}
	if e.delay > 0 {
		select {
		case <-r.Context().Done():
			return
		case <-time.After(e.delay):
		}
	}
	// The status at the time of the answer: the test may have flipped it.
	if status = int(e.status.Load()); status == 0 {
		status = http.StatusOK
	}
	e.mu.Lock()
	e.arrivals[i].status = status
	e.mu.Unlock()
	w.WriteHeader(status)
}

// seen returns a copy of the calls so far, and how many are in flight.
func (e *destEndpoint) seen() ([]destArrival, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]destArrival(nil), e.arrivals...), e.inFlight
}

// name is the endpoint's destination name, as postbox's logs and
// destinations: key it.
func (e *destEndpoint) name() string { return e.URL }

// destStore is a store for the destination tests: its line in the config
// and its name for subtests.
type destStore struct {
	name string
	line func(t *testing.T) string // the config line; may skip t
}

// destStores are the stores the delivery engine's end-to-end tests run on:
// a SQLite file in the server's directory, and a new schema of the local
// PostgreSQL (skipped without it, as the scale-out tests are, unless
// POSTBOX_REQUIRE_SERVICES=1).
var destStores = []destStore{
	{"on SQLite", func(*testing.T) string { return "data: ./data" }},
	{"on PostgreSQL", func(t *testing.T) string {
		return `store: "` + testenv.PostgresSchema(t, "pbdest") + `"`
	}},
}

// destConfig replaces @STORE@ with store and each "@NAME@" of vars.
func destConfig(config, store string, vars ...string) string {
	return strings.NewReplacer(append([]string{"@STORE@", store}, vars...)...).Replace(config)
}
