package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbox/postbox/internal/testenv"
)

// scaleConfig is the configuration every instance of a scale-out test
// shares: one PostgreSQL schema (@STORE@), one file that the work hook's
// action appends its delivery's id to (@RUNS@, written with O_APPEND by
// record.sh: one line per run), and an ingest hook without actions.
const scaleConfig = `
listen: 127.0.0.1:0
admin: off
store: "@STORE@"
workers: 4
hooks:
  - id: work
    actions:
      - exec:
          command: /bin/sh
          args: ["@TESTDATA@/record.sh"]
          env: {RUNS: "@RUNS@"}
  - id: ingest
`

// scaleWorkers is workers: in scaleConfig, the most jobs one instance runs
// at once.
const scaleWorkers = 4

// pgStore makes an empty PostgreSQL schema for one test, dropped when the
// test ends (after the servers it starts later have stopped), and returns
// a store URL whose search_path is that schema. The test skips when
// PostgreSQL is not reachable; POSTBOX_TEST_POSTGRES names another server.
func pgStore(t *testing.T) string {
	t.Helper()
	return testenv.PostgresSchema(t, "pbe2e")
}

// fleet is several postbox instances on one store, as behind a load
// balancer.
type fleet struct {
	t      *testing.T
	store  string // the store URL every instance uses (but see add)
	runs   string // the file the work hook's action appends to
	nodes  []*node
	failed atomic.Int64 // requests that failed and were sent again elsewhere
}

// node is one instance of a fleet.
type node struct {
	*server
	dead   atomic.Bool  // set before the instance is killed
	served atomic.Int64 // its 2xx answers
}

// startFleet starts n instances on a new schema, one after the other (the
// first creates the tables).
func startFleet(t *testing.T, n int) *fleet {
	t.Helper()
	f := &fleet{t: t, store: pgStore(t), runs: filepath.Join(t.TempDir(), "runs")}
	for range n {
		f.add(f.store)
	}
	return f
}

// add starts one more instance, on store.
func (f *fleet) add(store string) *node {
	f.t.Helper()
	config := strings.NewReplacer("@STORE@", store, "@RUNS@", f.runs).Replace(scaleConfig)
	n := &node{server: startServer(f.t, config)}
	f.nodes = append(f.nodes, n)
	return n
}

// kill ends instance i with SIGKILL; clients stop choosing it.
func (f *fleet) kill(i int) {
	f.nodes[i].dead.Store(true)
	f.nodes[i].kill()
}

// send posts n deliveries to path from clients concurrent clients. Client
// c sends to targets[c%len(targets)] and, when that instance is dead or
// its request fails, retries the delivery on the next live target. after,
// when not nil, runs after each 2xx answer with the number of 2xx answers
// so far. send returns the delivery ids answered 2xx and how long it took.
func (f *fleet) send(path string, n, clients int, targets []int, after func(answered int)) ([]string, time.Duration) {
	t := f.t
	t.Helper()
	var (
		mu   sync.Mutex
		ids  = make([]string, 0, n)
		next atomic.Int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer client.CloseIdleConnections()
			home := c % len(targets)
			for k := int(next.Add(1)); k <= n; k = int(next.Add(1)) {
				body := fmt.Sprintf(`{"client":%d,"n":%d}`, c, k)
				id, err := f.post(client, path, body, targets, home)
				if err != nil {
					t.Errorf("client %d, delivery %d: %v", c, k, err)
					return
				}
				mu.Lock()
				ids = append(ids, id)
				answered := len(ids)
				mu.Unlock()
				if after != nil {
					after(answered)
				}
			}
		})
	}
	wg.Wait()
	return ids, time.Since(start)
}

// post sends one delivery to the first live target from home on, moving
// on when a request fails, and returns the id of the delivery answered
// 2xx. A request that fails may still have been stored (its answer was
// lost): the retry stores another delivery, as a real client's would.
func (f *fleet) post(client *http.Client, path, body string, targets []int, home int) (string, error) {
	var errs []string
	for try := range 3 * len(targets) {
		i := targets[(home+try)%len(targets)]
		if f.nodes[i].dead.Load() {
			continue
		}
		resp, err := client.Post(f.nodes[i].url+path, "application/json", strings.NewReader(body))
		if err != nil {
			f.failed.Add(1)
			errs = append(errs, fmt.Sprintf("instance %d: %v", i, err))
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			f.failed.Add(1)
			errs = append(errs, fmt.Sprintf("instance %d: status %d", i, resp.StatusCode))
			continue
		}
		f.nodes[i].served.Add(1)
		return resp.Header.Get("Postbox-Delivery"), nil
	}
	return "", fmt.Errorf("no instance accepted it: %s", strings.Join(errs, "; "))
}

// TestScaleOutKill9 is issue 7's test: three instances on one PostgreSQL
// schema, 5,000 deliveries from 16 concurrent clients spread over them,
// one instance killed with SIGKILL midway while the others keep
// receiving. Every delivery answered 2xx must be stored, done, and its
// action run at least once; only actions that the dead instance was
// running may run twice (its jobs are taken over when their lease ends,
// 60 s after it claimed them).
func TestScaleOutKill9(t *testing.T) {
	const total, clients = 5000, 16
	f := startFleet(t, 3)
	var once sync.Once
	killedAt := time.Time{}
	ids, took := f.send("/hooks/work", total, clients, []int{0, 1, 2}, func(answered int) {
		if answered >= total/2 {
			once.Do(func() {
				f.kill(0)
				killedAt = time.Now()
			})
		}
	})
	sent := time.Now()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d deliveries answered 2xx in %s (%.0f/s) from %d clients; instance 0 killed after %d; answered by instance 0, 1, 2: %d, %d, %d; %d requests failed and were sent again elsewhere",
		len(ids), took.Round(time.Millisecond), float64(len(ids))/took.Seconds(), clients, total/2,
		f.nodes[0].served.Load(), f.nodes[1].served.Load(), f.nodes[2].served.Load(), f.failed.Load())
	accepted := map[string]bool{}
	for _, id := range ids {
		accepted[id] = true
	}
	if len(accepted) != total {
		t.Fatalf("%d distinct ids answered 2xx for %d deliveries", len(accepted), total)
	}

	// The live instances run every action, the dead one's jobs once their
	// lease (longest timeout 30 s + 30 s) ran out.
	live := f.nodes[1]
	eventually(t, 150*time.Second, func() string {
		if n := len(live.deliveries("--state", "pending", "--limit", "100000")); n > 0 {
			return fmt.Sprintf("%d deliveries still pending", n)
		}
		return ""
	})
	t.Logf("every delivery done %s after the kill, %s after the last answer",
		time.Since(killedAt).Round(time.Millisecond), time.Since(sent).Round(time.Millisecond))

	stored := map[string]string{}
	for _, d := range live.deliveries("--limit", "100000") {
		stored[d.ID] = d.State
	}
	lost := 0
	for id := range accepted {
		if stored[id] != "done" {
			lost++
			if lost <= 10 {
				t.Errorf("delivery %s answered 2xx is %q, want done", id, stored[id])
			}
		}
	}
	runs := countRuns(t, f.runs)
	never, twice, extra := 0, 0, 0
	for id := range accepted {
		if runs[id] == 0 {
			never++
			if never <= 10 {
				t.Errorf("the action of %s, answered 2xx, never ran", id)
			}
		}
	}
	for id, n := range runs {
		if _, ok := stored[id]; !ok {
			t.Errorf("an action ran for %s, which is not stored", id)
		}
		if n > 1 {
			twice++
			extra += n - 1
		}
	}
	// Only a job the dead instance was running can run again, and it ran
	// at most scaleWorkers at once. Any more means repeats where nothing
	// crashed.
	if extra > scaleWorkers {
		t.Errorf("%d extra action runs after one kill, want at most %d (the dead instance's workers)", extra, scaleWorkers)
	}
	t.Logf("%d answered 2xx, %d stored (%d more were stored without an answer reaching the client), %d not done, %d never ran; "+
		"%d action runs for %d deliveries; %d deliveries ran twice or more (%d extra runs)",
		len(accepted), len(stored), len(stored)-len(accepted), lost, never, sum(runs), len(runs), twice, extra)
}

// TestScaleOutIngestRate measures the same durable ingest (a hook without
// actions, 16 clients) on one instance and spread over three, all on one
// PostgreSQL, and on one instance with as many connections as the three
// have together. It only logs the rates: speed is not asserted in tests.
func TestScaleOutIngestRate(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping a measurement in -short mode")
	}
	const n, clients = 3000, 16
	f := startFleet(t, 3)
	// Instance 3: one instance with the three's connections (default pool
	// 4 each, as the CPUs here are fewer).
	f.add(f.store + "&pool_max_conns=12")
	f.send("/hooks/ingest", 300, clients, []int{0, 1, 2, 3}, nil) // warm up connections and caches
	for _, run := range []struct {
		name    string
		targets []int
	}{
		{"1 instance, pool 4", []int{0}},
		{"3 instances, pool 4 each", []int{0, 1, 2}},
		{"1 instance, pool 12", []int{3}},
		{"1 instance, pool 4", []int{0}},
		{"3 instances, pool 4 each", []int{0, 1, 2}},
		{"1 instance, pool 12", []int{3}},
	} {
		ids, took := f.send("/hooks/ingest", n, clients, run.targets, nil)
		t.Logf("%s: %d deliveries in %s: %.0f/s", run.name, len(ids), took.Round(time.Millisecond), float64(len(ids))/took.Seconds())
	}
}
