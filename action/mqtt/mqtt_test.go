package mqtt_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/postbox/postbox"
	"github.com/postbox/postbox/action/mqtt"
	"github.com/postbox/postbox/internal/payload"
	"github.com/postbox/postbox/internal/testenv"
)

const broker = "tcp://" + testenv.MosquittoAddr

// wait bounds every wait for the broker in these tests; it is a deadline
// for a failure, not a timing assertion.
const wait = 10 * time.Second

func unique(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// subscriber is a separate paho client, as a device would be.
type subscriber struct {
	client paho.Client
	msgs   chan paho.Message
}

func subscribe(t *testing.T, addr, topic string) *subscriber {
	t.Helper()
	s := &subscriber{msgs: make(chan paho.Message, 16)}
	o := paho.NewClientOptions().AddBroker(addr).SetClientID(unique("postbox-test-sub-")).SetAutoReconnect(false)
	s.client = paho.NewClient(o)
	if tok := s.client.Connect(); !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscriber: connect: %v", tok.Error())
	}
	t.Cleanup(func() { s.client.Disconnect(100) })
	tok := s.client.Subscribe(topic, 2, func(_ paho.Client, m paho.Message) { s.msgs <- m })
	if !tok.WaitTimeout(wait) || tok.Error() != nil {
		t.Fatalf("subscriber: subscribe %s: %v", topic, tok.Error())
	}
	return s
}

func (s *subscriber) next(t *testing.T) paho.Message {
	t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(wait):
		t.Fatal("subscriber received nothing")
		return nil
	}
}

// newPool returns the resources a server would keep, closed when the test
// ends: actions provisioned from one share its connection pool.
func newPool(t *testing.T) *postbox.Resources {
	r := &postbox.Resources{}
	t.Cleanup(func() { r.Close() })
	return r
}

// poolOf returns the connection pool kept in r.
func poolOf(t *testing.T, r *postbox.Resources) *mqtt.Pool {
	t.Helper()
	p, err := mqtt.SharedPool(r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mustNew builds an action and provisions it from r, as a server does; it
// is cleaned up when the test ends.
func mustNew(t *testing.T, c mqtt.Config, r *postbox.Resources) *mqtt.Action {
	t.Helper()
	a, err := mqtt.New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := a.Provision(r); err != nil {
		t.Fatalf("Provision: %v", err)
	}
	t.Cleanup(func() { a.Cleanup() })
	return a
}

func delivery(body string, path map[string]string) *postbox.TemplateData {
	return payload.TemplateData(&postbox.Delivery{ID: "dlv_1", HookID: "lamp", Body: []byte(body), PathValues: path,
		Header: http.Header{"Content-Type": {"application/json"}}})
}

func ptr[T any](v T) *T { return &v }

func TestPublishDeliversTheExactPayloadAtEachQoS(t *testing.T) {
	testenv.Require(t, "Mosquitto", testenv.MosquittoAddr)
	pool := newPool(t)
	for _, qos := range []int{0, 1, 2} {
		t.Run("qos "+string(rune('0'+qos)), func(t *testing.T) {
			topic := unique("postbox-test/qos/")
			sub := subscribe(t, broker, topic)
			a := mustNew(t, mqtt.Config{Broker: broker, Topic: topic, QoS: ptr(qos),
				Payload: ptr(`{"light":"{{ .Payload.state }}","by":"{{ .Hook.ID }}"}`)}, pool)
			res := a.Run(context.Background(), delivery(`{"state":"on"}`, nil))
			if res.Outcome != postbox.OutcomeOK || res.Err != nil {
				t.Fatalf("result = %+v", res)
			}
			m := sub.next(t)
			if string(m.Payload()) != `{"light":"on","by":"lamp"}` || m.Topic() != topic || int(m.Qos()) != qos || m.Retained() {
				t.Errorf("received %q on %s (qos %d, retained %t); want the rendered payload on %s at qos %d, not retained",
					m.Payload(), m.Topic(), m.Qos(), m.Retained(), topic, qos)
			}
		})
	}
}

func TestTheDefaultsAreTheRawBodyAtQoS1(t *testing.T) {
	testenv.Require(t, "Mosquitto", testenv.MosquittoAddr)
	topic := unique("postbox-test/raw/")
	sub := subscribe(t, broker, topic)
	a := mustNew(t, mqtt.Config{Broker: broker, Topic: topic}, newPool(t))
	raw := "{ \"a\" :1,\r\n \xff\xfe }\n"
	if res := a.Run(context.Background(), delivery(raw, nil)); res.Outcome != postbox.OutcomeOK {
		t.Fatalf("result = %+v", res)
	}
	m := sub.next(t)
	if string(m.Payload()) != raw || m.Qos() != mqtt.DefaultQoS {
		t.Errorf("received %q at qos %d; want the raw body %q at qos %d", m.Payload(), m.Qos(), raw, mqtt.DefaultQoS)
	}
	if a.Timeout() != mqtt.DefaultTimeout || a.Kind() != "mqtt" {
		t.Errorf("Kind, Timeout = %s, %s", a.Kind(), a.Timeout())
	}
}

func TestARetainedMessageReachesALaterSubscriber(t *testing.T) {
	testenv.Require(t, "Mosquitto", testenv.MosquittoAddr)
	pool := newPool(t)
	topic := unique("postbox-test/retain/")
	a := mustNew(t, mqtt.Config{Broker: broker, Topic: topic, Retain: true, Payload: ptr("OFF")}, pool)
	if res := a.Run(context.Background(), delivery(`{}`, nil)); res.Outcome != postbox.OutcomeOK {
		t.Fatalf("result = %+v", res)
	}
	// Subscribed only now: the broker hands over the retained message.
	m := subscribe(t, broker, topic).next(t)
	if string(m.Payload()) != "OFF" || !m.Retained() || m.Qos() != 1 {
		t.Errorf("received %q (retained %t, qos %d); want OFF, retained, qos 1", m.Payload(), m.Retained(), m.Qos())
	}
	// An empty retained message clears it from the broker.
	clear := mustNew(t, mqtt.Config{Broker: broker, Topic: topic, Retain: true, Payload: ptr("")}, pool)
	if res := clear.Run(context.Background(), delivery(`{}`, nil)); res.Outcome != postbox.OutcomeOK {
		t.Fatalf("clearing the retained message: %+v", res)
	}
}

// A Tasmota plug listens on cmnd/<device>/POWER for ON, OFF or TOGGLE.
func TestTasmotaPower(t *testing.T) {
	testenv.Require(t, "Mosquitto", testenv.MosquittoAddr)
	device := unique("lamp-")
	sub := subscribe(t, broker, "cmnd/"+device+"/POWER")
	a := mustNew(t, mqtt.Config{Broker: broker, Topic: "cmnd/{{ .Path.device }}/POWER",
		Payload: ptr(`{{ if eq .Payload.state "on" }}ON{{ else }}OFF{{ end }}`)}, newPool(t))
	for _, tt := range []struct{ body, want string }{{`{"state":"on"}`, "ON"}, {`{"state":"off"}`, "OFF"}} {
		res := a.Run(context.Background(), delivery(tt.body, map[string]string{"device": device}))
		if res.Outcome != postbox.OutcomeOK {
			t.Fatalf("result = %+v", res)
		}
		if m := sub.next(t); string(m.Payload()) != tt.want || m.Topic() != "cmnd/"+device+"/POWER" {
			t.Errorf("%s: received %q on %s, want %s on cmnd/%s/POWER", tt.body, m.Payload(), m.Topic(), tt.want, device)
		}
	}
}

func TestActionsOfOneBrokerShareAConnection(t *testing.T) {
	testenv.Require(t, "Mosquitto", testenv.MosquittoAddr)
	pool := newPool(t)
	topic := unique("postbox-test/shared/")
	sub := subscribe(t, broker, topic+"/#")
	var wg sync.WaitGroup
	for i := range 8 {
		a := mustNew(t, mqtt.Config{Broker: broker, Topic: topic + "/" + string(rune('a'+i)), Payload: ptr("x")}, pool)
		wg.Go(func() {
			if res := a.Run(context.Background(), delivery(`{}`, nil)); res.Outcome != postbox.OutcomeOK {
				t.Errorf("result = %+v", res)
			}
		})
	}
	wg.Wait()
	for range 8 {
		sub.next(t)
	}
	if n := poolOf(t, pool).Len(); n != 1 {
		t.Errorf("pool holds %d connections, want 1 for one broker", n)
	}
	other := mustNew(t, mqtt.Config{Broker: broker, Topic: topic + "/z", ClientID: unique("postbox-test-"), Payload: ptr("x")}, pool)
	if res := other.Run(context.Background(), delivery(`{}`, nil)); res.Outcome != postbox.OutcomeOK {
		t.Fatalf("result = %+v", res)
	}
	if n := poolOf(t, pool).Len(); n != 2 {
		t.Errorf("pool holds %d connections, want 2 once another client id is used", n)
	}
}

func TestABrokerThatIsDownGivesARetryableError(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	// New does not connect: `postbox check` needs no broker.
	a := mustNew(t, mqtt.Config{Broker: "tcp://" + addr, Topic: "cmnd/lamp/POWER", Timeout: time.Minute}, newPool(t))
	for i := range 2 {
		res := a.Run(context.Background(), delivery(`{}`, nil))
		// An error, not a timeout: the refusal is reported at once, not
		// after the minute.
		if res.Outcome != postbox.OutcomeError || res.Permanent || res.Err == nil {
			t.Fatalf("run %d: result = %+v, want a retryable error", i+1, res)
		}
	}
}

func TestABrokerThatDoesNotAnswerTimesOut(t *testing.T) {
	// A listener that accepts and never speaks MQTT.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	a := mustNew(t, mqtt.Config{Broker: "tcp://" + l.Addr().String(), Topic: "t", Timeout: 50 * time.Millisecond}, newPool(t))
	res := a.Run(context.Background(), delivery(`{}`, nil))
	if res.Outcome != postbox.OutcomeTimeout || res.Permanent {
		t.Fatalf("result = %+v, want a retryable timeout", res)
	}
}

func TestALostConnectionIsReopened(t *testing.T) {
	testenv.Require(t, "Mosquitto", testenv.MosquittoAddr)
	px, sub, c := viaProxy(t, "reconnect")
	a := mustNew(t, c, newPool(t))
	publish(t, a, sub, "1")
	if n := px.Cut(); n != 1 {
		t.Fatalf("cut %d connections, want the action's one", n)
	}
	publish(t, a, sub, "2")
}

func TestRenderedTopicsAreChecked(t *testing.T) {
	tests := []struct{ name, device string }{
		{"a single-level wildcard", "+"},
		{"a multi-level wildcard", "#"},
		{"a NUL", "a\x00b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := mustNew(t, mqtt.Config{Broker: "tcp://127.0.0.1:1", Topic: "cmnd/{{ .Payload.device }}/POWER"}, newPool(t))
			data := delivery(`{}`, nil)
			data.Payload = map[string]any{"device": tt.device}
			res := a.Run(context.Background(), data)
			if res.Outcome != postbox.OutcomeError || !res.Permanent || !strings.Contains(res.Err.Error(), "topic") {
				t.Errorf("result = %+v, want a permanent topic error", res)
			}
		})
	}
	a := mustNew(t, mqtt.Config{Broker: "tcp://127.0.0.1:1", Topic: "{{ .Payload.topic }}"}, newPool(t))
	if res := a.Run(context.Background(), delivery(`{}`, nil)); res.Outcome != postbox.OutcomeError || !res.Permanent {
		t.Errorf("an empty rendered topic: result = %+v, want a permanent error", res)
	}
}

func TestAClosedPoolRefusesToPublish(t *testing.T) {
	p := &postbox.Resources{}
	a := mustNew(t, mqtt.Config{Broker: "tcp://127.0.0.1:1", Topic: "t"}, p)
	p.Close()
	if res := a.Run(context.Background(), delivery(`{}`, nil)); res.Outcome != postbox.OutcomeError || res.Err == nil {
		t.Errorf("result = %+v, want an error", res)
	}
}
