package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

// server is one `postbox serve` process on a config in its own directory.
// Its data directory is dir/data, so that a restart finds the same store.
type server struct {
	t      *testing.T
	dir    string // working directory: postbox.yaml and data/
	addr   string // host:port of the hook listener, from the "ready" line
	url    string // http://addr
	logs   *logs
	client *http.Client

	env     []string // more environment for serve (POSTBOX_LEASE, say)
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd has been waited for
	waitErr error         // cmd.Wait's error, set before exited closes
}

// startServer writes config into a new temporary directory and starts
// postbox on it. In config, @DIR@ stands for that directory and @TESTDATA@
// for e2e/testdata. The server is stopped when the test ends.
func startServer(t *testing.T, config string) *server {
	t.Helper()
	s := newServer(t, config)
	s.start()
	return s
}

// newServer is startServer without the start: the test can prepare the
// directory (mount a file system on dir/data, say) before calling
// s.start(). The server is stopped when the test ends.
func newServer(t *testing.T, config string) *server {
	t.Helper()
	dir := t.TempDir()
	config = strings.NewReplacer("@DIR@", dir, "@TESTDATA@", testdata).Replace(config)
	if err := os.WriteFile(filepath.Join(dir, "postbox.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, dir: dir, logs: &logs{changed: make(chan struct{})},
		client: &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}}
	t.Cleanup(func() {
		s.stop()
		s.client.CloseIdleConnections()
		if strings.Contains(s.logs.String(), "WARNING: DATA RACE") {
			t.Errorf("the server reported a data race (built with POSTBOX_E2E_RACE=1)")
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs.String())
		}
	})
	return s
}

// start runs the binary and waits for its "ready" line.
func (s *server) start() {
	t := s.t
	t.Helper()
	from := s.logs.len()
	cmd := postboxCommand(context.Background(), "serve", "--config", "postbox.yaml", "--log-format", "json", "--grace", "5s")
	cmd.Dir = s.dir
	cmd.Env = append(baseEnv(), s.env...)
	cmd.Stderr = s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start postbox serve: %v", err)
	}
	exited := make(chan struct{})
	go func() {
		// Wait also waits until all of stderr is in s.logs.
		s.waitErr = cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited = cmd, exited
	ready, err := s.logs.waitFrom(from, 15*time.Second, exited, func(r record) bool { return r["msg"] == "ready" })
	if err != nil {
		t.Fatalf("postbox serve did not get ready: %v\nlog:\n%s", err, s.logs.String())
	}
	addr, _ := ready["addr"].(string)
	if addr == "" {
		t.Fatalf("ready line has no addr: %v", ready)
	}
	s.addr, s.url = addr, "http://"+addr
}

// stop sends SIGTERM and waits for the process to end.
func (s *server) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if s.waitErr != nil {
			s.t.Errorf("postbox serve ended with %v after SIGTERM, want a clean exit", s.waitErr)
		}
	case <-time.After(20 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
		s.t.Errorf("postbox serve did not stop within 20s of SIGTERM")
	}
	s.cmd = nil
	s.client.CloseIdleConnections()
}

// kill ends the process with SIGKILL, as a crash would.
func (s *server) kill() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
	s.client.CloseIdleConnections()
}

// restart starts the server again on the same directory.
func (s *server) restart() {
	s.t.Helper()
	s.start()
}

// waitLog waits for a log record the server writes from now on or wrote
// already, for which match is true.
func (s *server) waitLog(desc string, match func(record) bool) record {
	s.t.Helper()
	r, err := s.logs.waitFrom(0, 20*time.Second, s.exited, match)
	if err != nil {
		s.t.Fatalf("waiting for %s: %v", desc, err)
	}
	return r
}

// waitAttempt waits for the log record of the attempt at action 0 of
// delivery id, and returns it.
func (s *server) waitAttempt(id string) record {
	s.t.Helper()
	return s.waitLog("the attempt of delivery "+id, func(r record) bool {
		return r["msg"] == "attempt" && r["delivery"] == id
	})
}

// cli runs a postbox subcommand on the server's config.
func (s *server) cli(args ...string) result {
	s.t.Helper()
	return runPostbox(s.t, s.dir, nil, args...)
}

// deliveries runs `postbox deliveries list --json` with extra flags.
func (s *server) deliveries(flags ...string) []listed {
	s.t.Helper()
	res := s.cli(append([]string{"deliveries", "list", "--config", "postbox.yaml", "--json"}, flags...)...)
	if res.code != 0 {
		s.t.Fatalf("deliveries list exited %d: %s", res.code, res.stderr)
	}
	var out []listed
	if err := json.Unmarshal([]byte(res.stdout), &out); err != nil {
		s.t.Fatalf("deliveries list --json printed %q: %v", res.stdout, err)
	}
	return out
}

// delivery runs `postbox deliveries show --json id`.
func (s *server) delivery(id string) *postbox.Delivery {
	s.t.Helper()
	res := s.cli("deliveries", "show", "--config", "postbox.yaml", "--json", id)
	if res.code != 0 {
		s.t.Fatalf("deliveries show %s exited %d: %s", id, res.code, res.stderr)
	}
	var d postbox.Delivery
	if err := json.Unmarshal([]byte(res.stdout), &d); err != nil {
		s.t.Fatalf("deliveries show --json printed %q: %v", res.stdout, err)
	}
	return &d
}

// listed is one object of `deliveries list --json`, decoded as a client
// that knows only the documented fields would.
type listed struct {
	ID       string `json:"id"`
	Hook     string `json:"hook"`
	Received string `json:"received"`
	Method   string `json:"method"`
	Path     string `json:"path"`
	State    string `json:"state"`
}

// record is one JSON log line.
type record map[string]any

// logs collects a server's JSON log lines, across restarts.
type logs struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	records []record      // nil entries for lines that are not JSON
	changed chan struct{} // closed and replaced when a line arrives
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	added := false
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		line := string(l.partial[:i])
		l.partial = l.partial[i+1:]
		var r record
		if json.Unmarshal([]byte(line), &r) != nil {
			r = nil
		}
		l.lines = append(l.lines, line)
		l.records = append(l.records, r)
		added = true
	}
	if added {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	return len(p), nil
}

func (l *logs) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.records)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// waitFrom returns the first record from index from on that matches, as
// soon as it is written; it gives up at the timeout or when exited closes.
func (l *logs) waitFrom(from int, timeout time.Duration, exited <-chan struct{}, match func(record) bool) (record, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	gone := false
	for {
		l.mu.Lock()
		for ; from < len(l.records); from++ {
			if r := l.records[from]; r != nil && match(r) {
				l.mu.Unlock()
				return r, nil
			}
		}
		changed := l.changed
		l.mu.Unlock()
		if gone {
			return nil, errors.New("the server exited")
		}
		select {
		case <-changed:
		case <-exited:
			// Every line is in once the process is waited for: look
			// once more, then give up.
			gone = true
		case <-deadline.C:
			return nil, fmt.Errorf("not logged within %s", timeout)
		}
	}
}

// eventually polls cond until it returns "" (met) or the timeout passes,
// then fails with cond's last explanation.
func eventually(t *testing.T, timeout time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		why := cond()
		if why == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, why)
		}
		<-tick.C
	}
}

// memory is what /proc/<pid>/status says of a process's resident memory.
type memory struct {
	RSS  int64 // bytes resident now (VmRSS)
	Peak int64 // the most bytes ever resident (VmHWM)
}

func (m memory) String() string {
	return fmt.Sprintf("RSS %.1f MB, peak %.1f MB", float64(m.RSS)/1e6, float64(m.Peak)/1e6)
}

// memory reads the running server's resident memory; it fails the test
// where /proc is not available.
func (s *server) memory() memory {
	s.t.Helper()
	if s.cmd == nil {
		s.t.Fatal("memory: the server is not running")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		s.t.Fatalf("memory: %v", err)
	}
	var m memory
	for _, line := range strings.Split(string(data), "\n") {
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var kb int64
		fmt.Sscanf(strings.TrimSpace(value), "%d kB", &kb)
		switch name {
		case "VmRSS":
			m.RSS = kb << 10
		case "VmHWM":
			m.Peak = kb << 10
		}
	}
	return m
}

// memoryBound is the most resident memory a reliability test lets the
// server reach. Generous: the server idles near 20 MB; the bound catches a
// leak or an unbounded buffer, not a few megabytes.
const memoryBound = 200 << 20

// checkBounded fails t when m's peak is over memoryBound, except for a
// binary built with -race (POSTBOX_E2E_RACE=1), whose memory is several
// times larger by design.
func checkBounded(t *testing.T, m memory) {
	t.Helper()
	if m.Peak > memoryBound && os.Getenv("POSTBOX_E2E_RACE") != "1" {
		t.Errorf("peak resident memory %d MB, want under %d MB", m.Peak>>20, memoryBound>>20)
	}
}
