package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

const crashConfig = `
listen: 127.0.0.1:0
admin: off
data: ./data
workers: 4
hooks:
  - id: work
    actions:
      - exec:
          command: /bin/sh
          args: ["@TESTDATA@/record.sh"]
          env: {RUNS: "@DIR@/runs"}
`

// TestKill9 sends deliveries from concurrent clients, kills the server with
// SIGKILL at a random moment mid-stream, restarts it on the same data
// directory, and checks that every delivery answered 2xx is stored and its
// action ran at least once. It counts the action runs that were repeated.
func TestKill9(t *testing.T) {
	t.Parallel()
	const rounds, clients, workers = 5, 4, 4 // workers as in crashConfig
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	s := startServer(t, crashConfig)
	accepted := map[string]bool{}
	for round := 1; round <= rounds; round++ {
		if round > 1 {
			s.restart()
			checkStored(t, s, accepted)
		}
		killAfter := 5 + rng.IntN(60)
		ids := sendUntilKilled(t, s, clients, killAfter)
		t.Logf("round %d: killed after %d deliveries answered 2xx (aimed at %d)", round, len(ids), killAfter)
		for _, id := range ids {
			accepted[id] = true
		}
	}
	s.restart()
	checkStored(t, s, accepted)

	// Every accepted delivery's action runs, once the queue resumes.
	runsFile := filepath.Join(s.dir, "runs")
	var runs map[string]int
	eventually(t, 30*time.Second, func() string {
		pending := s.deliveries("--state", "pending", "--limit", "100000")
		if len(pending) > 0 {
			return fmt.Sprintf("%d deliveries still pending", len(pending))
		}
		runs = countRuns(t, runsFile)
		for id := range accepted {
			if runs[id] == 0 {
				return "the action of " + id + " never ran"
			}
		}
		return ""
	})
	stored := map[string]string{}
	for _, d := range s.deliveries("--limit", "100000") {
		stored[d.ID] = d.State
	}
	for id := range accepted {
		if stored[id] == "done" {
			continue
		}
		// A run that exited 0 is done, even when something it started
		// held its output past WaitDelay (action/exec's
		// TestACommandWhoseChildHoldsItsOutputEndsWithItsOwnStatus).
		if d := s.delivery(id); len(d.Attempts) > 0 {
			t.Errorf("delivery %s is %q, want done; last attempt: %s %s", id, stored[id], d.Attempts[len(d.Attempts)-1].Outcome, d.Attempts[len(d.Attempts)-1].Error)
			continue
		}
		t.Errorf("delivery %s is %q, want done", id, stored[id])
	}
	repeated, extra := 0, 0
	for id, n := range runs {
		if _, ok := stored[id]; !ok {
			t.Errorf("an action ran for %s, which is not stored", id)
		}
		if n > 1 {
			repeated++
			extra += n - 1
		}
	}
	// Only an action in flight at a kill may run again: at most one per
	// worker per kill. Any more means repeats while nothing crashed.
	if extra > rounds*workers {
		t.Errorf("%d extra action runs after %d kills with %d workers, want at most %d", extra, rounds, workers, rounds*workers)
	}
	t.Logf("%d deliveries answered 2xx; %d stored; %d action runs for %d deliveries; %d deliveries ran more than once (%d extra runs) across %d kills",
		len(accepted), len(stored), sum(runs), len(runs), repeated, extra, rounds)
}

// sendUntilKilled posts from several clients at once until killAfter
// deliveries were answered 2xx, then kills the server with SIGKILL while
// the others are mid-request. It returns the ids answered 2xx.
func sendUntilKilled(t *testing.T, s *server, clients, killAfter int) []string {
	t.Helper()
	proc := s.cmd.Process
	var (
		mu     sync.Mutex
		ids    []string
		once   sync.Once
		killed = make(chan struct{})
		wg     sync.WaitGroup
	)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{}}
			defer client.CloseIdleConnections()
			for n := 0; ; n++ {
				select {
				case <-killed:
					return
				default:
				}
				body := fmt.Sprintf(`{"client":%d,"n":%d}`, c, n)
				resp, err := client.Post(s.url+"/hooks/work", "application/json", strings.NewReader(body))
				if err != nil {
					return // the server is gone
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					t.Errorf("client %d request %d: status %d", c, n, resp.StatusCode)
					return
				}
				mu.Lock()
				ids = append(ids, resp.Header.Get("Postbox-Delivery"))
				count := len(ids)
				mu.Unlock()
				if count >= killAfter {
					once.Do(func() {
						proc.Kill()
						close(killed)
					})
				}
			}
		}()
	}
	wg.Wait()
	s.kill()
	return ids
}

// checkStored fails unless every id in want is in the store.
func checkStored(t *testing.T, s *server, want map[string]bool) {
	t.Helper()
	stored := map[string]bool{}
	for _, d := range s.deliveries("--limit", "100000") {
		stored[d.ID] = true
	}
	var lost []string
	for id := range want {
		if !stored[id] {
			lost = append(lost, id)
		}
	}
	sort.Strings(lost)
	if len(lost) > 0 {
		t.Fatalf("%d of %d deliveries answered 2xx are not in the store after kill -9: %v", len(lost), len(want), lost)
	}
}

// countRuns reads the file record.sh appends to: how often each delivery's
// action ran.
func countRuns(t *testing.T, path string) map[string]int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	runs := map[string]int{}
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" {
			runs[line]++
		}
	}
	return runs
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
