package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/postbox/postbox"
	"github.com/postbox/postbox/internal/testenv"
)

// guaranteesConfig has hooks whose actions call @TARGET@, an httptest
// server of the test process, publish to the local Mosquitto, or run
// commands. /flaky/{n} and /dead/{n} call a target that fails n times.
const guaranteesConfig = `
listen: 127.0.0.1:0
admin: off
data: ./data
workers: 4
# These cases pin retry counts and timings against one target that all the
# hooks share, failing on purpose: its circuit breaker would pause it for
# them all (the breaker has tests of its own in destinations_test.go).
destinations:
  "*": {breaker: {failures: 0}}
hooks:
  - id: flaky
    path: /flaky/{n}
    retry: {attempts: 5, backoff: 50ms, max_backoff: 200ms}
    actions:
      - http: {url: "@TARGET@/flaky/{{ .Delivery.ID }}?fail={{ .Path.n }}", timeout: 5s}
  - id: refused
    retry: {attempts: 5, backoff: 50ms, max_backoff: 200ms}
    actions:
      - http: {url: "@TARGET@/status/400"}
  - id: slow
    actions:
      - http: {url: "@TARGET@/slow", timeout: 200ms}
  - id: sleepy
    actions:
      - exec: {command: /bin/sleep, args: ["30"], timeout: 200ms}
  - id: dead
    path: /dead/{n}
    retry: {attempts: 2, backoff: 50ms, max_backoff: 100ms}
    actions:
      - http: {url: "@TARGET@/flaky/{{ .Delivery.ID }}?fail={{ .Path.n }}"}
  - id: plug
    path: /devices/{device}
    actions:
      - mqtt:
          broker: tcp://127.0.0.1:1883
          topic: "cmnd/{{ .Path.device }}/POWER"
          payload: '{{ if eq .Payload.state "on" }}ON{{ else }}OFF{{ end }}'
          timeout: 5s
  - id: sync
    mode: sync
    timeout: 5s
    actions:
      - exec: {command: /bin/sh, args: ["@TESTDATA@/exit.sh", "{{ .Payload.word }}", "{{ .Payload.code }}"]}
    response: {status: 200, error_status: 503, body: "exit {{ .Result.ExitCode }}: {{ .Result.Output }}"}
`

// target is the HTTP service that http actions call, in the test process.
// /flaky/ID?fail=N answers 503 to the first N calls for ID, then 200;
// /status/CODE answers CODE; /slow answers only when the test ends.
type target struct {
	*httptest.Server
	stop chan struct{}

	mu     sync.Mutex
	calls  map[string]int    // path → calls
	bodies map[string]string // path → the last body received
}

// newTarget starts a target, closed when the test ends.
func newTarget(t *testing.T) *target {
	t.Helper()
	tg := &target{stop: make(chan struct{}), calls: map[string]int{}, bodies: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/flaky/{id}", func(w http.ResponseWriter, r *http.Request) {
		fail, _ := strconv.Atoi(r.URL.Query().Get("fail"))
		if tg.record(r) <= fail {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		tg.record(r)
		code, _ := strconv.Atoi(r.PathValue("code"))
		http.Error(w, "no", code)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		tg.record(r)
		select {
		case <-r.Context().Done():
		case <-tg.stop:
		}
	})
	tg.Server = httptest.NewServer(mux)
	t.Cleanup(tg.Close)
	// Cleanups run last first: release /slow before Close waits for it.
	t.Cleanup(func() { close(tg.stop) })
	return tg
}

// record counts a call and keeps its body; it returns the path's count.
func (tg *target) record(r *http.Request) int {
	b, _ := io.ReadAll(r.Body)
	tg.mu.Lock()
	defer tg.mu.Unlock()
	tg.calls[r.URL.Path]++
	tg.bodies[r.URL.Path] = string(b)
	return tg.calls[r.URL.Path]
}

// seen returns how often path was called and the last body it got.
func (tg *target) seen(path string) (int, string) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.calls[path], tg.bodies[path]
}

// startGuarantees starts a target and postbox on guaranteesConfig.
func startGuarantees(t *testing.T) (*server, *target) {
	t.Helper()
	tg := newTarget(t)
	return startServer(t, strings.ReplaceAll(guaranteesConfig, "@TARGET@", tg.URL)), tg
}

// waitSettled waits until delivery id's run ends, from log line from on:
// the log record of the attempt whose next state is done, failed or dead.
func waitSettled(t *testing.T, s *server, from int, id string) record {
	t.Helper()
	r, err := s.logs.waitFrom(from, 20*time.Second, s.exited, func(r record) bool {
		if r["msg"] != "attempt" || r["delivery"] != id {
			return false
		}
		return r["next"] == "done" || r["next"] == "failed" || r["next"] == "dead"
	})
	if err != nil {
		t.Fatalf("waiting for delivery %s to end: %v", id, err)
	}
	return r
}

// attempts describes a delivery's attempts as "series.n outcome/status"
// words, e.g. "0.1 failed/503 0.2 ok/200".
func attempts(d *postbox.Delivery) string {
	var w []string
	for _, a := range d.Attempts {
		w = append(w, fmt.Sprintf("%d.%d %s/%d", a.Series, a.N, a.Outcome, a.Status))
	}
	return strings.Join(w, " ")
}

// TestActionOutcomes sends deliveries whose actions meet a flaky, a
// refusing and a slow target and a slow command, and reads back the
// attempts `deliveries show --json` recorded.
func TestActionOutcomes(t *testing.T) {
	t.Parallel()
	s, tg := startGuarantees(t)
	tests := []struct {
		name     string
		path     string
		state    string
		attempts string // as attempts() writes them
		calls    int    // calls the target got; 0 for none expected
	}{
		{"a target that fails 3 times is retried and the delivery ends done after 4 attempts", "/flaky/3",
			"done", "0.1 failed/503 0.2 failed/503 0.3 failed/503 0.4 ok/200", 4},
		{"a target that fails 4 times succeeds at the fifth and last attempt", "/flaky/4",
			"done", "0.1 failed/503 0.2 failed/503 0.3 failed/503 0.4 failed/503 0.5 ok/200", 5},
		{"a target that keeps failing leaves the delivery dead after 5 attempts", "/flaky/9",
			"dead", "0.1 failed/503 0.2 failed/503 0.3 failed/503 0.4 failed/503 0.5 failed/503", 5},
		{"a target answering 400 is not retried: failed after 1 attempt", "/hooks/refused",
			"failed", "0.1 failed/400", 1},
		{"a target slower than the action's timeout is a timeout: dead after its one attempt", "/hooks/slow",
			"dead", "0.1 timeout/0", 1},
		{"a command slower than its timeout is a timeout: dead after its one attempt", "/hooks/sleepy",
			"dead", "0.1 timeout/0", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			body := `{"case":` + strconv.Quote(tt.name) + `}`
			resp, _ := s.do(t, request{method: "POST", path: tt.path, header: jsonType, body: body})
			id := resp.Header.Get("Postbox-Delivery")
			if resp.StatusCode != 200 || id == "" {
				t.Fatalf("status %d, Postbox-Delivery %q", resp.StatusCode, id)
			}
			waitSettled(t, s, 0, id)
			d := s.delivery(id)
			if string(d.State) != tt.state || attempts(d) != tt.attempts {
				t.Errorf("state %s, attempts %s\nwant %s, %s", d.State, attempts(d), tt.state, tt.attempts)
			}
			path := map[string]string{"/hooks/refused": "/status/400", "/hooks/slow": "/slow"}[tt.path]
			if strings.HasPrefix(tt.path, "/flaky/") {
				path = "/flaky/" + id
			}
			if path == "" {
				return
			}
			calls, got := tg.seen(path)
			if calls != tt.calls {
				t.Errorf("the target was called %d times, want %d", calls, tt.calls)
			}
			if got != body {
				t.Errorf("the target received %q, want the body as sent, %q", got, body)
			}
		})
	}
}

// TestReplayWhileServing lets a delivery die, then replays it with the
// CLI while the server runs: a new series of attempts runs, retried too,
// and ends done once the target succeeds; the first series stays as it was.
func TestReplayWhileServing(t *testing.T) {
	t.Parallel()
	s, tg := startGuarantees(t)
	// The target fails 3 calls: both attempts of the first series and
	// the first of the replay's.
	resp, _ := s.do(t, request{method: "POST", path: "/dead/3", header: jsonType, body: `{"x":1}`})
	id := resp.Header.Get("Postbox-Delivery")
	if resp.StatusCode != 200 || id == "" {
		t.Fatalf("status %d, Postbox-Delivery %q", resp.StatusCode, id)
	}
	waitSettled(t, s, 0, id)
	if dead := s.deliveries("--state", "dead"); len(dead) != 1 || dead[0].ID != id {
		t.Fatalf("deliveries list --state dead: %+v, want only %s", dead, id)
	}

	from := s.logs.len()
	res := s.cli("deliveries", "replay", "--config", "postbox.yaml", id)
	if res.code != 0 || res.stdout != id+": replaying\n1 replayed, 0 refused\n" {
		t.Fatalf("replay exited %d, stdout %q, stderr %q", res.code, res.stdout, res.stderr)
	}
	waitSettled(t, s, from, id)
	d := s.delivery(id)
	want := "0.1 failed/503 0.2 failed/503 1.1 failed/503 1.2 ok/200"
	if d.State != postbox.StateDone || d.Series != 1 || attempts(d) != want {
		t.Errorf("state %s, series %d, attempts %s\nwant done, series 1, %s", d.State, d.Series, attempts(d), want)
	}
	if calls, _ := tg.seen("/flaky/" + id); calls != 4 {
		t.Errorf("the target was called %d times, want 4", calls)
	}
	if dead := s.deliveries("--state", "dead"); len(dead) != 0 {
		t.Errorf("deliveries list --state dead: %+v, want none after the replay", dead)
	}
}

// TestMQTTAction publishes through the real Mosquitto: a subscriber gets
// cmnd/<device>/POWER with exactly ON or OFF, rendered from the JSON body
// and the path wildcard, Tasmota style.
func TestMQTTAction(t *testing.T) {
	testenv.Require(t, "Mosquitto", testenv.MosquittoAddr)
	t.Parallel()
	s, _ := startGuarantees(t)
	device := "e2e-plug-" + newID()
	topic := "cmnd/" + device + "/POWER"
	got := make(chan paho.Message, 10)
	sub := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + testenv.MosquittoAddr).
		SetClientID("e2e-sub-" + newID()).SetCleanSession(true))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: connect to Mosquitto: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	if tok := sub.Subscribe(topic, 1, func(_ paho.Client, m paho.Message) { got <- m }); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe to %s: %v", topic, tok.Error())
	}
	for _, tt := range []struct{ body, payload string }{
		{`{"state":"on"}`, "ON"},
		{`{"state":"off"}`, "OFF"},
		{`{"state":"on","extra":[1,2,3]}`, "ON"},
	} {
		t.Run(tt.body+" publishes "+tt.payload, func(t *testing.T) {
			resp, _ := s.do(t, request{method: "POST", path: "/devices/" + device, header: jsonType, body: tt.body})
			id := resp.Header.Get("Postbox-Delivery")
			if resp.StatusCode != 200 || id == "" {
				t.Fatalf("status %d", resp.StatusCode)
			}
			select {
			case m := <-got:
				if m.Topic() != topic || string(m.Payload()) != tt.payload || m.Retained() {
					t.Errorf("received %q on %s (retained %t), want %q on %s, not retained",
						m.Payload(), m.Topic(), m.Retained(), tt.payload, topic)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("no message on %s within 20s", topic)
			}
			waitSettled(t, s, 0, id)
			d := s.delivery(id)
			want := fmt.Sprintf("published %d bytes to %s (qos 1, retain false)", len(tt.payload), topic)
			if d.State != postbox.StateDone || len(d.Attempts) != 1 || d.Attempts[0].Output != want {
				t.Errorf("state %s, attempts %+v; want done with one attempt saying %q", d.State, d.Attempts, want)
			}
		})
	}
	t.Run("a device name that renders a wildcard fails at once and publishes nothing", func(t *testing.T) {
		resp, _ := s.do(t, request{method: "POST", path: "/devices/" + url.PathEscape("+"), header: jsonType, body: `{"state":"on"}`})
		id := resp.Header.Get("Postbox-Delivery")
		if resp.StatusCode != 200 || id == "" {
			t.Fatalf("status %d", resp.StatusCode)
		}
		waitSettled(t, s, 0, id)
		if d := s.delivery(id); d.State != postbox.StateFailed || attempts(d) != "0.1 error/0" {
			t.Errorf("state %s, attempts %s; want failed, 0.1 error/0", d.State, attempts(d))
		}
	})
	select {
	case m := <-got:
		t.Errorf("an extra message %q on %s", m.Payload(), m.Topic())
	default:
	}
}

// TestSyncHook runs a sync hook's command before the answer: its output is
// in the body, and a failing command selects error_status.
func TestSyncHook(t *testing.T) {
	t.Parallel()
	s, _ := startGuarantees(t)
	tests := []struct {
		name   string
		body   string
		status int
		prefix string
		output []string
		state  postbox.State
	}{
		{"a command that exits 0 answers 200 with its output", `{"word":"fine","code":0}`,
			200, "exit 0: ", []string{"out: fine", "err: fine"}, postbox.StateDone},
		{"a command that exits 3 answers error_status with its output", `{"word":"broken","code":3}`,
			503, "exit 3: ", []string{"out: broken", "err: broken"}, postbox.StateDead},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, answer := s.do(t, request{method: "POST", path: "/hooks/sync", header: jsonType, body: tt.body})
			if resp.StatusCode != tt.status || !strings.HasPrefix(answer, tt.prefix) {
				t.Errorf("status %d, answer %q; want %d and %q...", resp.StatusCode, answer, tt.status, tt.prefix)
			}
			for _, line := range tt.output {
				if !strings.Contains(answer, line) {
					t.Errorf("answer %q does not hold the command's output %q", answer, line)
				}
			}
			id := resp.Header.Get("Postbox-Delivery")
			if id == "" {
				t.Fatalf("no Postbox-Delivery header")
			}
			// Run before the answer, and recorded once.
			if d := s.delivery(id); d.State != tt.state || len(d.Attempts) != 1 {
				t.Errorf("state %s, attempts %s; want %s after one attempt", d.State, attempts(d), tt.state)
			}
		})
	}
}

// crashSlowConfig runs an action that records its delivery in starts,
// takes 300 ms and then records it in runs, on 2 workers.
const crashSlowConfig = `
listen: 127.0.0.1:0
admin: off
data: ./data
workers: 2
hooks:
  - id: slow
    actions:
      - exec:
          command: /bin/sh
          args: ["-c", 'echo "$POSTBOX_DELIVERY" >> "$STARTS"; sleep 0.3; echo "$POSTBOX_DELIVERY" >> "$RUNS"']
          env: {STARTS: "@DIR@/starts", RUNS: "@DIR@/runs"}
`

// TestKill9WhileActionsRun accepts deliveries whose actions take 300 ms,
// kills the server with SIGKILL while actions run, twice, and restarts it:
// every delivery ends done, none is lost, and actions ran again only for
// attempts a kill interrupted (at most one per worker per kill).
func TestKill9WhileActionsRun(t *testing.T) {
	t.Parallel()
	const workers, kills = 2, 2 // workers as in crashSlowConfig
	s := startServer(t, crashSlowConfig)
	runsFile, startsFile := filepath.Join(s.dir, "runs"), filepath.Join(s.dir, "starts")
	var accepted []string
	send := func(n int) {
		for i := range n {
			resp, _ := s.do(t, request{method: "POST", path: "/hooks/slow", header: jsonType, body: fmt.Sprintf(`{"n":%d}`, i)})
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			accepted = append(accepted, resp.Header.Get("Postbox-Delivery"))
		}
	}
	send(12)
	var interrupted []string
	for k := 1; k <= kills; k++ {
		// Kill while every worker is in the middle of an action that no
		// kill interrupted before.
		var running []string
		eventually(t, 20*time.Second, func() string {
			starts, runs := countRuns(t, startsFile), countRuns(t, runsFile)
			running = running[:0]
			for id, n := range starts {
				if n > runs[id] && !slices.Contains(interrupted, id) {
					running = append(running, id)
				}
			}
			if len(running) < workers {
				return fmt.Sprintf("%d actions running, waiting for %d", len(running), workers)
			}
			return ""
		})
		s.kill()
		interrupted = append(interrupted, running...)
		t.Logf("kill %d while %v ran", k, running)
		s.restart()
		if k == 1 {
			send(6)
		}
	}

	stored := map[string]string{}
	eventually(t, 30*time.Second, func() string {
		runs := countRuns(t, runsFile)
		clear(stored)
		for _, d := range s.deliveries("--limit", "1000") {
			stored[d.ID] = d.State
		}
		for _, id := range accepted {
			if stored[id] != "done" || runs[id] == 0 {
				return fmt.Sprintf("delivery %s is %q and its action ran %d times", id, stored[id], runs[id])
			}
		}
		return ""
	})
	if len(stored) != len(accepted) {
		t.Errorf("%d deliveries stored, want the %d accepted", len(stored), len(accepted))
	}
	runs := countRuns(t, runsFile)
	extra, repeated := 0, []string{}
	for id, n := range runs {
		if _, ok := stored[id]; !ok {
			t.Errorf("an action ran for %s, which was never accepted", id)
		}
		if n > 1 {
			extra += n - 1
			repeated = append(repeated, fmt.Sprintf("%s×%d", id, n))
		}
		// An action a kill interrupted ran on (the killed server's child
		// is not killed with it) and again after the restart.
		if kept := 1 + countOf(interrupted, id); n > kept {
			t.Errorf("the action of %s ran %d times; %d kills interrupted it, so want at most %d", id, n, kept-1, kept)
		}
	}
	if extra > workers*kills {
		t.Errorf("%d extra action runs after %d kills with %d workers, want at most %d: %v", extra, kills, workers, workers*kills, repeated)
	}
	t.Logf("%d deliveries accepted and done; %d action runs; %d duplicates (%v) after %d kills with %d workers; interrupted: %v",
		len(accepted), sum(runs), extra, repeated, kills, workers, interrupted)
}

// countOf returns how often v occurs in s.
func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}
