package mqtt_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/action/mqtt"
	"github.com/postbox/postbox/internal/testenv"
)

// waitFor polls cond until it returns "" or wait passes, then fails with
// its last explanation: a deadline for a failure, not a timing assertion.
func waitFor(t *testing.T, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", wait, why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// open says why px does not have want connections open, or "".
func open(px *testenv.Proxy, want int) func() string {
	return func() string {
		if n := px.Open(); n != want {
			return fmt.Sprintf("the broker sees %d connections open, want %d", n, want)
		}
		return ""
	}
}

// viaProxy returns a proxy to the local Mosquitto, a subscriber to a new
// topic, and the settings of an action that publishes .Payload.n there
// through the proxy.
func viaProxy(t *testing.T, name string) (*testenv.Proxy, *subscriber, mqtt.Config) {
	px := testenv.NewProxy(t, testenv.MosquittoAddr)
	topic := unique("postbox-test/" + name + "/")
	return px, subscribe(t, broker, topic), mqtt.Config{Broker: "tcp://" + px.Addr, Topic: topic, Payload: ptr("{{ .Payload.n }}")}
}

// publish runs a with .Payload.n = payload and waits for sub to get it.
func publish(t *testing.T, a *mqtt.Action, sub *subscriber, payload string) {
	t.Helper()
	if res := a.Run(context.Background(), delivery(`{"n":"`+payload+`"}`, nil)); res.Outcome != postbox.OutcomeOK {
		t.Fatalf("publish %s: %+v", payload, res)
	}
	if m := sub.next(t); string(m.Payload()) != payload {
		t.Fatalf("received %q, want %q", m.Payload(), payload)
	}
}

// A reload provisions the new configuration's actions, then cleans up the
// old ones: a broker both use keeps its connection, one only the old used
// has its connection closed.
func TestCleanupClosesTheConnectionsNoActionUses(t *testing.T) {
	testenv.Require(t, "Mosquitto", testenv.MosquittoAddr)
	kept, dropped := testenv.NewProxy(t, testenv.MosquittoAddr), testenv.NewProxy(t, testenv.MosquittoAddr)
	topic := unique("postbox-test/reload/")
	sub := subscribe(t, broker, topic)
	res := newPool(t)
	cfg := func(px *testenv.Proxy) mqtt.Config {
		return mqtt.Config{Broker: "tcp://" + px.Addr, Topic: topic, Payload: ptr("{{ .Payload.n }}")}
	}
	oldKept, oldDropped := mustNew(t, cfg(kept), res), mustNew(t, cfg(dropped), res)
	publish(t, oldKept, sub, "1")
	publish(t, oldDropped, sub, "2")
	waitFor(t, open(kept, 1))
	waitFor(t, open(dropped, 1))

	// The reload: the new configuration keeps one broker.
	newKept := mustNew(t, cfg(kept), res)
	oldKept.Cleanup()
	oldDropped.Cleanup()
	waitFor(t, open(dropped, 0))
	publish(t, newKept, sub, "3")
	if n, o := kept.Accepted(), kept.Open(); n != 1 || o != 1 {
		t.Errorf("the kept broker saw %d connections (%d open), want its first one only, still open", n, o)
	}
	if n := poolOf(t, res).Len(); n != 1 {
		t.Errorf("the pool holds %d connections, want the kept broker's", n)
	}
}

// An action cleaned up while it publishes (a reload during an attempt)
// finishes its publish on the connection, which closes after it.
func TestCleanupWaitsForThePublishUnderWay(t *testing.T) {
	testenv.Require(t, "Mosquitto", testenv.MosquittoAddr)
	px, sub, c := viaProxy(t, "inflight")
	res := newPool(t)
	a := mustNew(t, c, res)
	publish(t, a, sub, "1")

	px.Hold() // the broker gets the next message only once released
	done := make(chan postbox.Result, 1)
	go func() { done <- a.Run(context.Background(), delivery(`{"n":"2"}`, nil)) }()
	// The message is on its way: it waits at the proxy.
	waitFor(t, func() string {
		if px.Waiting() == 0 {
			return "the publish has not reached the broker's side"
		}
		return ""
	})
	a.Cleanup()
	if n := poolOf(t, res).Len(); n != 1 || px.Open() != 1 {
		t.Fatalf("after Cleanup, during the publish: the pool holds %d connections, the broker sees %d open; want the one, open", n, px.Open())
	}
	px.Release()
	if r := <-done; r.Outcome != postbox.OutcomeOK {
		t.Fatalf("the publish under way at Cleanup: %+v, want it delivered", r)
	}
	if m := sub.next(t); string(m.Payload()) != "2" {
		t.Errorf("received %q, want 2", m.Payload())
	}
	waitFor(t, open(px, 0))
}

// An action run before Provision is a bug, reported, never a panic.
func TestAnActionNotProvisionedFails(t *testing.T) {
	a, err := mqtt.New(mqtt.Config{Broker: broker, Topic: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if r := a.Run(context.Background(), delivery(`{}`, nil)); r.Outcome != postbox.OutcomeError || !r.Permanent {
		t.Errorf("result = %+v, want a permanent error", r)
	}
	if err := a.Cleanup(); err != nil {
		t.Errorf("Cleanup without Provision: %v", err)
	}
}
