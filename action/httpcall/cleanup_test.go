package httpcall_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/action/httpcall"
)

// connStates follows a server's connections: how many are open.
type connStates struct {
	mu   sync.Mutex
	open map[net.Conn]bool
}

func (c *connStates) track(conn net.Conn, st http.ConnState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch st {
	case http.StateNew:
		c.open[conn] = true
	case http.StateClosed, http.StateHijacked:
		delete(c.open, conn)
	}
}

func (c *connStates) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.open)
}

// waitOpen polls until the server has want connections open; the deadline
// is for a failure, not a timing assertion.
func (c *connStates) waitOpen(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for c.count() != want {
		if time.Now().After(deadline) {
			t.Fatalf("the server has %d connections open, want %d", c.count(), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// After a reload the old action's kept-alive connections are closed; a
// call under way at the reload finishes, and its connection closes after,
// as does that of a call the old action still makes.
func TestCleanupClosesTheKeptConnectionsAfterTheCallsUnderWay(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 1)
	states := &connStates{open: map[net.Conn]bool{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			arrived <- struct{}{}
			<-release
		}
		fmt.Fprint(w, "ok")
	}))
	srv.Config.ConnState = states.track
	srv.Start()
	defer srv.Close()

	a, err := httpcall.New(httpcall.Config{URL: srv.URL + "/{{ .Payload.path }}"})
	if err != nil {
		t.Fatal(err)
	}
	run := func(path string) postbox.Result {
		return a.Run(context.Background(), jsonDelivery(`{"path":"`+path+`"}`))
	}
	if r := run("fast"); r.Outcome != postbox.OutcomeOK {
		t.Fatalf("call: %+v", r)
	}
	states.waitOpen(t, 1) // kept alive

	done := make(chan postbox.Result, 1)
	go func() { done <- run("slow") }()
	<-arrived
	a.Cleanup()
	// A call the old configuration still makes (a job claimed before
	// the reload) does not keep its connection either.
	if r := run("fast"); r.Outcome != postbox.OutcomeOK {
		t.Fatalf("a call after Cleanup: %+v", r)
	}
	close(release)
	if r := <-done; r.Outcome != postbox.OutcomeOK {
		t.Fatalf("the call under way at Cleanup: %+v, want it answered", r)
	}
	states.waitOpen(t, 0)
}
