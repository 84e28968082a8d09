package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/postbox/postbox/internal/testenv"
)

// reloadConfig has one mqtt hook per broker address: each goes to the
// local Mosquitto through a proxy of the test, which sees the server's
// connections to it open and close.
func reloadConfig(topic string, brokers ...string) string {
	cfg := "listen: 127.0.0.1:0\nadmin: off\ndata: ./data\nhooks:\n"
	for i, b := range brokers {
		cfg += fmt.Sprintf(`  - id: lamp%d
    actions:
      - mqtt: {broker: "tcp://%s", topic: %q, payload: "{{ .Payload.n }}", timeout: 5s}
`, i, b, topic)
	}
	return cfg
}

// TestAReloadClosesTheConnectionOfADroppedBroker: a SIGHUP that reloads a
// configuration without one of its two brokers closes the server's
// connection to that broker, and hands the other's over unchanged (not
// reconnected).
func TestAReloadClosesTheConnectionOfADroppedBroker(t *testing.T) {
	testenv.Require(t, "Mosquitto", testenv.MosquittoAddr)
	t.Parallel()
	kept, dropped := testenv.NewProxy(t, testenv.MosquittoAddr), testenv.NewProxy(t, testenv.MosquittoAddr)
	topic := "e2e/reload/" + newID()
	got := make(chan string, 10)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + testenv.MosquittoAddr).
		SetClientID("e2e-sub-" + newID()).SetCleanSession(true))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: connect to Mosquitto: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe to %s: %v", topic, tok.Error())
	}
	publish := func(s *server, hook, n string) {
		t.Helper()
		if status, _, _, _ := s.post(t, "/hooks/"+hook, jsonType, `{"n":"`+n+`"}`); status != 200 {
			t.Fatalf("POST /hooks/%s: %d", hook, status)
		}
		select {
		case m := <-got:
			if m != n {
				t.Fatalf("received %q, want %q", m, n)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no message from hook %s within 20s", hook)
		}
	}
	open := func(name string, px *testenv.Proxy, want int) func() string {
		return func() string {
			if n := px.Open(); n != want {
				return fmt.Sprintf("the %s broker sees %d connections from postbox, want %d", name, n, want)
			}
			return ""
		}
	}

	s := startServer(t, reloadConfig(topic, kept.Addr, dropped.Addr))
	publish(s, "lamp0", "1")
	publish(s, "lamp1", "2")
	eventually(t, 10*time.Second, open("kept", kept, 1))
	eventually(t, 10*time.Second, open("dropped", dropped, 1))

	if err := os.WriteFile(filepath.Join(s.dir, "postbox.yaml"), []byte(reloadConfig(topic, kept.Addr)), 0o644); err != nil {
		t.Fatal(err)
	}
	from := s.logs.len()
	s.cmd.Process.Signal(syscall.SIGHUP)
	if _, err := s.logs.waitFrom(from, 20*time.Second, s.exited, func(r record) bool { return r["msg"] == "config reloaded" }); err != nil {
		t.Fatalf("waiting for the reload: %v", err)
	}
	eventually(t, 10*time.Second, open("dropped", dropped, 0))
	publish(s, "lamp0", "3")
	if n, o := kept.Accepted(), kept.Open(); n != 1 || o != 1 {
		t.Errorf("the kept broker saw %d connections from postbox (%d open), want its first, still open", n, o)
	}
	if res, _ := s.do(t, request{method: "POST", path: "/hooks/lamp1", header: jsonType, body: `{}`}); res.StatusCode != 404 {
		t.Errorf("the dropped hook after the reload: %d, want 404", res.StatusCode)
	}
}
