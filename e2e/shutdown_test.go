package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// shutdownConfig has a quick action (100 ms) for the load, and a long one,
// async and sync, that the first time it runs for a delivery writes its
// pid to $MARKS/<delivery> and outlasts any grace period; every action
// records its delivery in runs once done.
const shutdownConfig = `
listen: 127.0.0.1:0
admin: off
data: ./data
workers: 2
hooks:
  - id: load
    actions:
      - exec:
          command: /bin/sh
          args: ["-c", 'sleep 0.1; echo "$POSTBOX_DELIVERY" >> "$RUNS"']
          env: {RUNS: "@DIR@/runs"}
  - id: long
    actions:
      - exec: {command: /bin/sh, args: ["-c", "@ONCE@"], env: {RUNS: "@DIR@/runs", MARKS: "@DIR@/marks-long"}, timeout: 2m}
  - id: long-sync
    mode: sync
    timeout: 1m
    actions:
      - exec: {command: /bin/sh, args: ["-c", "@ONCE@"], env: {RUNS: "@DIR@/runs", MARKS: "@DIR@/marks-sync"}, timeout: 2m}
`

// onceScript sleeps a minute the first time it runs for a delivery, after
// writing its pid (that of the sleep, which it becomes) to a mark file;
// the next time it records the delivery in $RUNS.
const onceScript = `mkdir -p \"$MARKS\"; m=\"$MARKS/$POSTBOX_DELIVERY\"; ` +
	`[ -e \"$m\" ] || { echo $$ > \"$m\"; exec sleep 60; }; echo \"$POSTBOX_DELIVERY\" >> \"$RUNS\"`

// shutdownMargin is how long after its grace period a stopping server may
// take to close its store and exit: far more than it needs, and less than
// a second grace period.
const shutdownMargin = 1500 * time.Millisecond

// startShutdown starts postbox on shutdownConfig with --grace grace.
func startShutdown(t *testing.T, grace time.Duration) *server {
	t.Helper()
	return startGrace(t, strings.ReplaceAll(shutdownConfig, "@ONCE@", onceScript), grace)
}

// startGrace starts postbox on config as startServer does, but with
// `--grace grace` instead of the helpers' default.
func startGrace(t *testing.T, config string, grace time.Duration) *server {
	t.Helper()
	s := startServer(t, config)
	s.stop()
	from := s.logs.len()
	cmd := postboxCommand(context.Background(), "serve", "--config", "postbox.yaml", "--log-format", "json", "--grace", grace.String())
	cmd.Dir = s.dir
	cmd.Env = baseEnv()
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start postbox serve: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	ready, err := s.logs.waitFrom(from, 15*time.Second, exited, func(r record) bool { return r["msg"] == "ready" })
	if err != nil {
		t.Fatalf("postbox serve --grace %s did not get ready: %v", grace, err)
	}
	s.addr, _ = ready["addr"].(string)
	s.url = "http://" + s.addr
	return s
}

// loadResult is what the clients of TestGracefulShutdownUnderLoad saw.
type loadResult struct {
	mu       sync.Mutex
	accepted []string       // ids answered 2xx
	statuses map[int]int    // other statuses → count
	errs     map[string]int // kinds of request errors → count
}

// add records one request's outcome; it returns false once requests fail.
func (l *loadResult) add(resp *http.Response, err error) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case err != nil:
		l.errs[errKind(err)]++
		return false
	case resp.StatusCode/100 == 2:
		l.accepted = append(l.accepted, resp.Header.Get("Postbox-Delivery"))
	default:
		l.statuses[resp.StatusCode]++
	}
	return true
}

// count returns how many requests were answered 2xx so far.
func (l *loadResult) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.accepted)
}

// errKind names a request error by what the client can tell of it.
func errKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed"
	default:
		return err.Error()
	}
}

// TestGracefulShutdownUnderLoad sends SIGTERM while clients keep sending
// and actions run: the listener closes at once (new connections are
// refused, none hangs), the process exits cleanly within the grace period
// plus a margin, and every delivery answered 2xx is stored and, after a
// restart for the jobs handed back, had its action run exactly once.
func TestGracefulShutdownUnderLoad(t *testing.T) {
	t.Parallel()
	const grace, margin = 2 * time.Second, shutdownMargin
	s := startShutdown(t, grace)
	runsFile := filepath.Join(s.dir, "runs")

	// A long action holds a worker past the grace period: it is stopped
	// and its job handed back.
	resp, _ := s.do(t, request{method: "POST", path: "/hooks/long", header: jsonType, body: `{}`})
	long := resp.Header.Get("Postbox-Delivery")
	if resp.StatusCode != 200 || long == "" {
		t.Fatalf("long: status %d", resp.StatusCode)
	}
	eventually(t, 10*time.Second, func() string {
		if _, err := os.Stat(filepath.Join(s.dir, "marks-long", long)); err != nil {
			return "the long action has not started"
		}
		return ""
	})

	load := &loadResult{statuses: map[int]int{}, errs: map[string]int{}}
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			pace := time.NewTicker(10 * time.Millisecond)
			defer pace.Stop()
			for n := 0; ; n++ {
				body := fmt.Sprintf(`{"client":%d,"n":%d}`, c, n)
				if !load.add(client.Post(s.url+"/hooks/load", "application/json", strings.NewReader(body))) {
					return
				}
				<-pace.C
			}
		}()
	}
	eventually(t, 20*time.Second, func() string {
		if n := load.count(); n < 20 {
			return fmt.Sprintf("%d deliveries answered 2xx, waiting for 20", n)
		}
		return ""
	})
	from := s.logs.len()
	term := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}

	// While the long action keeps the process in its grace period, a new
	// connection is refused at once.
	if _, err := s.logs.waitFrom(from, 10*time.Second, s.exited, func(r record) bool { return r["msg"] == "shutting down" }); err != nil {
		t.Fatalf("no \"shutting down\" log line after SIGTERM: %v", err)
	}
	refusedBeforeExit := false
	eventually(t, 10*time.Second, func() string {
		c, err := net.DialTimeout("tcp", s.addr, 2*time.Second)
		if err == nil {
			c.Close()
			return "the listener still accepts connections after SIGTERM"
		}
		if errKind(err) != "connection refused" {
			t.Fatalf("connecting after SIGTERM: %v (%s), want connection refused at once", err, errKind(err))
		}
		select {
		case <-s.exited:
		default:
			refusedBeforeExit = true
		}
		return ""
	})
	if !refusedBeforeExit {
		t.Errorf("the server exited before a connection was refused: the grace period was not used")
	}
	_, err := (&http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{}}).
		Post(s.url+"/hooks/load", "application/json", strings.NewReader(`{"late":true}`))
	if err == nil || errKind(err) != "connection refused" {
		t.Errorf("a request after the listener closed: %v, want connection refused", err)
	}

	select {
	case <-s.exited:
		t.Logf("exited %s after SIGTERM (grace %s)", time.Since(term).Round(10*time.Millisecond), grace)
	case <-time.After(time.Until(term.Add(grace + margin))):
		t.Errorf("still running %s after SIGTERM, want an exit within the grace period %s plus %s", grace+margin, grace, margin)
		s.kill()
	}
	if s.waitErr != nil {
		t.Errorf("postbox serve ended with %v after SIGTERM, want a clean exit", s.waitErr)
	}
	s.cmd = nil
	wg.Wait()
	t.Logf("clients: %d answered 2xx, other statuses %v, errors %v", len(load.accepted), load.statuses, load.errs)
	if len(load.statuses) > 0 {
		t.Errorf("answers other than 2xx while shutting down: %v", load.statuses)
	}
	if load.errs["timeout"] > 0 {
		t.Errorf("%d requests hung until the client's timeout", load.errs["timeout"])
	}

	// Stopped: every accepted delivery is stored; the long one is pending
	// again, its interrupted attempt not counted as a failure.
	accepted := append([]string{long}, load.accepted...)
	stored := map[string]string{}
	for _, d := range s.deliveries("--limit", "100000") {
		stored[d.ID] = d.State
	}
	for _, id := range accepted {
		if stored[id] == "" {
			t.Errorf("delivery %s was answered 2xx but is not stored", id)
		}
	}
	if d := s.delivery(long); d.State != "pending" || len(d.Attempts) != 0 {
		t.Errorf("the long delivery is %s with attempts %s after shutdown, want pending with none", d.State, attempts(d))
	}

	// Restarted: the rest runs, each action exactly once.
	s.restart()
	eventually(t, 30*time.Second, func() string {
		runs := countRuns(t, runsFile)
		for _, d := range s.deliveries("--limit", "100000") {
			if d.State != "done" || runs[d.ID] == 0 {
				return fmt.Sprintf("delivery %s is %s and its action ran %d times", d.ID, d.State, runs[d.ID])
			}
		}
		return ""
	})
	runs := countRuns(t, runsFile)
	for id, n := range runs {
		if n != 1 {
			t.Errorf("the action of %s ran %d times, want once: nothing crashed", id, n)
		}
	}
	if len(runs) != len(accepted) {
		t.Errorf("actions ran for %d deliveries, want the %d accepted", len(runs), len(accepted))
	}
}

// TestShutdownBoundsSlowWork sends SIGTERM while a sync request and an
// async action both outlast the grace period: the process still exits
// within the grace period plus a margin, no command it started outlives
// it, and after a restart each action has run exactly once.
func TestShutdownBoundsSlowWork(t *testing.T) {
	t.Parallel()
	const grace, margin = 2 * time.Second, shutdownMargin
	s := startShutdown(t, grace)
	resp, _ := s.do(t, request{method: "POST", path: "/hooks/long", header: jsonType, body: `{}`})
	long := resp.Header.Get("Postbox-Delivery")
	if resp.StatusCode != 200 || long == "" {
		t.Fatalf("long: status %d", resp.StatusCode)
	}
	answered := make(chan string, 1)
	go func() {
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}}
		resp, err := client.Post(s.url+"/hooks/long-sync", "application/json", strings.NewReader(`{}`))
		if err != nil {
			answered <- errKind(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		answered <- resp.Status
	}()
	// Both commands run: each wrote its pid under its delivery's id.
	pids := map[string]int{}
	eventually(t, 10*time.Second, func() string {
		for _, dir := range []string{"marks-long", "marks-sync"} {
			entries, _ := os.ReadDir(filepath.Join(s.dir, dir))
			for _, e := range entries {
				b, _ := os.ReadFile(filepath.Join(s.dir, dir, e.Name()))
				if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					pids[e.Name()] = pid
				}
			}
		}
		if len(pids) < 2 {
			return fmt.Sprintf("%d of the 2 long commands run", len(pids))
		}
		return ""
	})

	term := time.Now()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.exited:
		t.Logf("exited %s after SIGTERM (grace %s)", time.Since(term).Round(10*time.Millisecond), grace)
	case <-time.After(time.Until(term.Add(grace + margin))):
		t.Errorf("still running %s after SIGTERM, want an exit within the grace period %s plus %s", grace+margin, grace, margin)
		select {
		case <-s.exited:
			t.Logf("exited %s after SIGTERM", time.Since(term).Round(10*time.Millisecond))
		case <-time.After(20 * time.Second):
			s.kill()
		}
	}
	if s.waitErr != nil {
		t.Errorf("postbox serve ended with %v after SIGTERM, want a clean exit", s.waitErr)
	}
	s.cmd = nil
	select {
	case a := <-answered:
		t.Logf("the sync request got: %s", a)
	case <-time.After(10 * time.Second):
		t.Errorf("the sync request still waits for an answer 10s after postbox exited")
	}
	for id, pid := range pids {
		if !gone(pid, 2*time.Second) {
			t.Errorf("the command of delivery %s (pid %d) still runs after postbox exited", id, pid)
			syscall.Kill(pid, syscall.SIGKILL) // the test's grandchild: clean up
		}
	}

	// Restarted: each long action runs once more, this time to its end.
	s.restart()
	eventually(t, 30*time.Second, func() string {
		runs := countRuns(t, filepath.Join(s.dir, "runs"))
		for _, d := range s.deliveries() {
			if d.State != "done" || runs[d.ID] == 0 {
				return fmt.Sprintf("delivery %s (%s) is %s and its action ran %d times", d.ID, d.Hook, d.State, runs[d.ID])
			}
		}
		return ""
	})
	runs := countRuns(t, filepath.Join(s.dir, "runs"))
	for id := range pids {
		if runs[id] != 1 {
			t.Errorf("the action of %s ran to its end %d times, want once", id, runs[id])
		}
	}
}

// gone polls until process pid has ended, for at most within; it reports
// whether it did.
func gone(pid int, within time.Duration) bool {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for alive(pid) {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

// alive reports whether process pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}
