package admin_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/admin"
	"github.com/postbox/postbox/internal/testenv"
	"github.com/postbox/postbox/queue"
)

// chromiumPath is Debian's chromium, which .ci/browser-deps installs.
const chromiumPath = "/usr/bin/chromium"

// requireBrowser returns node's path, or skips the test (fails it under
// POSTBOX_REQUIRE_SERVICES=1) when node, chromium or playwright-core is
// missing.
func requireBrowser(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	missing := ""
	switch {
	case err != nil:
		missing = "node is not on PATH"
	case !exists(chromiumPath):
		missing = chromiumPath + " is missing (apt-get install chromium)"
	case !exists(filepath.Join("ui", "test", "node_modules", "playwright-core")):
		missing = "admin/ui/test/node_modules/playwright-core is missing (npm ci in admin/ui/test)"
	default:
		return node
	}
	testenv.Skip(t, "the browser test needs node, chromium and playwright-core: %s; run .ci/browser-deps", missing)
	return ""
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// TestConsoleInBrowser drives the console in headless chromium: sign in,
// the deliveries list, a live delivery, its detail, a replay and its new
// attempt, a rejected request's reason, the hooks page, signing out; it
// reports the page's load time. Its requests pass the admin's Host,
// cross-origin and JSON checks as a real browser sends them.
func TestConsoleInBrowser(t *testing.T) {
	node := requireBrowser(t)
	bq := &browserQueue{}
	f := newFixture(t, func(o *admin.Options) { o.Now = nil; o.Queue = bq })
	start := time.Now().Add(-70 * time.Minute)
	var replay *postbox.Delivery
	for i := range 60 {
		at := start.Add(time.Duration(i) * time.Minute)
		if i%3 == 0 {
			f.add("gh", 0, at, fmt.Sprintf(`{"action":"opened","number":%d}`, i))
			continue
		}
		d := f.add("lamp", 1, at, fmt.Sprintf(`{"state":"on","n":%d}`, i))
		if i == 58 {
			replay = d
			f.finish(d.ID, postbox.OutcomeOK, "lamp on")
			if err := f.db.RecordRelay(context.Background(), d.ID, "alice-laptop", at); err != nil {
				t.Fatal(err)
			}
		}
	}
	shots := t.TempDir()
	if dir := os.Getenv("POSTBOX_ARTIFACTS"); dir != "" {
		shots = filepath.Join(dir, "console")
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "console.test.mjs", f.ts.URL)
	cmd.Dir = filepath.Join("ui", "test")
	cmd.Env = append(os.Environ(), "POSTBOX_ADMIN_TOKEN="+f.token, "POSTBOX_REPLAY_ID="+replay.ID,
		"POSTBOX_SCREENSHOTS="+shots)
	cmd.WaitDelay = 5 * time.Second
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tell := func(line string) {
		if _, err := fmt.Fprintln(stdin, line); err != nil {
			t.Errorf("tell the browser test %q: %v", line, err)
		}
	}
	// The context's deadline ends node, and with it this loop.
	var steps []string
	lines := bufio.NewScanner(stdout)
	for lines.Scan() {
		line := lines.Text()
		t.Log("browser:", line)
		word, _, _ := strings.Cut(line, " ")
		steps = append(steps, word)
		switch word {
		case "ready":
			marker := "live-marker-" + fmt.Sprint(time.Now().UnixNano())
			d := f.add("lamp", 1, time.Now(), `{"state":"on","note":"`+marker+`"}`)
			f.srv.Request(postbox.RequestEvent{Time: time.Now(), Hook: "lamp", Method: "POST", Path: "/post",
				Remote: "192.0.2.50:5000", Status: 200, Delivery: d.ID, Duration: 2 * time.Millisecond, Bytes: len(d.Body)})
			f.srv.Request(postbox.RequestEvent{Time: time.Now(), Hook: "gh", Method: "POST", Path: "/hooks/gh",
				Remote: "198.51.100.9:4000", Status: 401, Reason: "authentication failed: signature mismatch",
				Sample: []byte(`{"zen":"forged"}`), Bytes: 16})
			tell("live " + d.ID + " " + marker)
		case "replayed":
			job := f.finish(replay.ID, postbox.OutcomeOK, "lamp on again")
			f.srv.Attempt(postbox.AttemptEvent{Hook: "lamp", Next: postbox.StateDone, Attempt: postbox.Attempt{
				DeliveryID: replay.ID, Series: job.Series, N: 1, Kind: "exec", Outcome: postbox.OutcomeOK}})
			tell("finished")
		case "timing":
			t.Logf("console page load (performance timing, not asserted): %s", strings.TrimPrefix(line, "timing "))
		case "baseline":
			t.Logf("a plain text file in the same browser, for comparison: %s", strings.TrimPrefix(line, "baseline "))
		}
	}
	stdin.Close()
	err = cmd.Wait()
	if err != nil || len(steps) == 0 || steps[len(steps)-1] != "ok" {
		t.Fatalf("browser test failed (%v); steps %v\nstderr:\n%s", err, steps, stderr.String())
	}
	if !bq.resumed.Load() {
		t.Error("the console's Resume button did not resume the open destination")
	}
	t.Logf("screenshots in %s", shots)
}

// browserQueue shows one open destination until the console resumes it.
type browserQueue struct{ resumed atomic.Bool }

func (q *browserQueue) Destinations() []queue.DestinationStatus {
	d := queue.DestinationStatus{Name: "http://api.example.com:443", Kind: "io", State: queue.Open,
		Until: time.Now().Add(time.Minute), Limit: 64, Failed: 5, Failures: 5, LastErr: "503 Service Unavailable"}
	if q.resumed.Load() {
		d.State, d.Until, d.Failures = queue.Closed, time.Time{}, 0
	}
	return []queue.DestinationStatus{d, {Name: "exec:/usr/local/bin/lamp", Kind: "cpu", State: queue.Closed, Limit: 2, OK: 40}}
}

func (q *browserQueue) Resume(name string) error {
	if name != "http://api.example.com:443" {
		return queue.ErrUnknownDestination
	}
	q.resumed.Store(true)
	return nil
}
