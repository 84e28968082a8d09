package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// crashKills is how many times TestCrashLoop kills the server: 50 (about
// 20s on two cores), 200 with POSTBOX_LONG=1; POSTBOX_CRASH_KILLS=N
// chooses any other number.
func crashKills(t *testing.T) int {
	if v := os.Getenv("POSTBOX_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("POSTBOX_CRASH_KILLS=%q: want a positive number", v)
		}
		return n
	}
	if os.Getenv("POSTBOX_LONG") == "1" {
		return 200
	}
	return 50
}

// TestCrashLoop kills the server with SIGKILL at a random moment (from
// right after it is ready to 400ms later, while four clients send
// deliveries and the queue runs their actions), restarts it on the same
// data directory, and does that again and again. Afterwards every
// delivery answered 2xx must be stored and its action must have run at
// least once; repeated runs are counted, and bounded by one per worker per
// kill.
func TestCrashLoop(t *testing.T) {
	t.Parallel()
	const clients, workers = 4, 4 // workers as in crashConfig
	kills := crashKills(t)
	seed := rand.Uint64()
	t.Logf("seed %d, %d kills", seed, kills)
	rng := rand.New(rand.NewPCG(seed, seed))
	begin := time.Now()
	s := startServer(t, crashConfig)
	accepted := map[string]bool{}
	var failed int
	for k := 1; k <= kills; k++ {
		if k > 1 {
			s.restart()
		}
		delay := time.Duration(rng.IntN(400)) * time.Millisecond
		ids, errs := sendForThenKill(t, s, clients, delay)
		failed += errs
		for _, id := range ids {
			accepted[id] = true
		}
	}
	looped := time.Since(begin)
	s.restart()
	checkStored(t, s, accepted)

	runsFile := filepath.Join(s.dir, "runs")
	var runs map[string]int
	eventually(t, 60*time.Second, func() string {
		if pending := s.deliveries("--state", "pending", "--limit", "100000"); len(pending) > 0 {
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
		// A run that exited 0 is done (see TestKill9WhileActionsRun).
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
	if extra > kills*workers {
		t.Errorf("%d extra action runs after %d kills with %d workers, want at most %d", extra, kills, workers, kills*workers)
	}
	t.Logf("%d kills in %s (%s in all); %d deliveries answered 2xx, %d requests cut off by a kill; %d stored; lost: 0",
		kills, looped.Round(time.Millisecond), time.Since(begin).Round(time.Millisecond), len(accepted), failed, len(stored))
	t.Logf("%d action runs for %d deliveries; %d deliveries ran more than once (%d extra runs)",
		sum(runs), len(runs), repeated, extra)
}

// sendForThenKill posts from several clients at once and kills the server
// with SIGKILL after delay, mid-stream. It returns the ids answered 2xx and
// how many requests failed (cut off by the kill).
func sendForThenKill(t *testing.T, s *server, clients int, delay time.Duration) (ids []string, failed int) {
	t.Helper()
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		killed = make(chan struct{})
	)
	proc := s.cmd.Process
	timer := time.AfterFunc(delay, func() {
		proc.Kill()
		close(killed)
	})
	defer timer.Stop()
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
					mu.Lock()
					failed++
					mu.Unlock()
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
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	<-killed
	s.kill()
	return ids, failed
}
