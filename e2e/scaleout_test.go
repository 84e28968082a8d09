package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbox/postbox"
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
	config string // the instances' configuration; "" is scaleConfig
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

// add starts one more instance, on store, with env added to its
// environment.
func (f *fleet) add(store string, env ...string) *node {
	f.t.Helper()
	config := strings.NewReplacer("@STORE@", store, "@RUNS@", f.runs).Replace(f.configOrDefault())
	srv := newServer(f.t, config)
	srv.env = env
	srv.start()
	n := &node{server: srv}
	f.nodes = append(f.nodes, n)
	return n
}

func (f *fleet) configOrDefault() string {
	if f.config != "" {
		return f.config
	}
	return scaleConfig
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

// TestScaleOutKill9 is issue 7's test, with issue 19's bounds: three
// instances on one PostgreSQL schema, 5,000 deliveries from 16 concurrent
// clients spread over them, one instance killed with SIGKILL midway while
// the others keep receiving. The jobs it held (running, or claimed ahead)
// must be taken over within 20 s (a 15 s lease and a poll); every delivery
// answered 2xx must be stored, done, and its action run at least once; and
// only the actions it held may run twice.
func TestScaleOutKill9(t *testing.T) {
	const total, clients = 5000, 16
	f := startFleet(t, 3)
	victim, live := f.nodes[0], f.nodes[1]
	victimID := victim.id()
	if in := live.instances(); len(in) != 3 || slices.ContainsFunc(in, func(i postbox.Instance) bool { return i.State != postbox.InstanceRunning }) {
		t.Fatalf("instances before the kill: %+v, want three running", in)
	}
	var once sync.Once
	var killedAt time.Time
	killed := make(chan struct{})
	sent := make(chan []string)
	var took time.Duration
	go func() {
		ids, d := f.send("/hooks/work", total, clients, []int{0, 1, 2}, func(answered int) {
			if answered >= total/2 {
				once.Do(func() {
					f.kill(0)
					killedAt = time.Now()
					close(killed)
				})
			}
		})
		took = d
		sent <- ids
	}()
	<-killed
	held := live.held(victimID)
	takeover, taken := f.takenOver(victimID, held, killedAt, 20*time.Second)
	t.Logf("the killed instance held %d jobs; all taken over (%d with an interrupted attempt, the rest had finished) %s after the kill",
		len(held), len(taken), takeover.Round(time.Millisecond))
	ids := <-sent
	sentAt := time.Now()
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("%d deliveries answered 2xx in %s (%.0f/s) from %d clients; instance 0 killed after %d; answered by instance 0, 1, 2: %d, %d, %d; %d requests failed and were sent again elsewhere",
		len(ids), took.Round(time.Millisecond), float64(len(ids))/took.Seconds(), clients, total/2,
		f.nodes[0].served.Load(), f.nodes[1].served.Load(), f.nodes[2].served.Load(), f.failed.Load())
	if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != total {
		t.Fatalf("%d distinct ids answered 2xx for %d deliveries", len(ids), total)
	}
	runs := f.settled(live, ids, held, 120*time.Second)
	t.Logf("every delivery done %s after the kill, %s after the last answer",
		time.Since(killedAt).Round(time.Millisecond), time.Since(sentAt).Round(time.Millisecond))
	twice, extra := 0, 0
	for _, n := range runs {
		if n > 1 {
			twice++
			extra += n - 1
		}
	}
	t.Logf("%d action runs for %d deliveries; %d deliveries ran twice or more (%d extra runs), all of them held by the killed instance",
		sum(runs), len(runs), twice, extra)
}

// TestScaleOutIngestRate measures the same durable ingest (a hook without
// actions, 16 clients) on one instance and spread over three, all on one
// PostgreSQL, and on one instance with as many connections as the three
// have together, with the CPU the instances used per delivery. Then, through
// a proxy that counts what the instances send, the round trips to
// PostgreSQL per delivery, for ingest alone and with an exec action run
// by the queue. It only logs: speed is not asserted in tests, so it is a
// measurement, run on purpose and left out of the suite:
//
//	POSTBOX_MEASURE=1 go test ./e2e -run TestScaleOutIngestRate -v
func TestScaleOutIngestRate(t *testing.T) {
	if os.Getenv("POSTBOX_MEASURE") != "1" {
		t.Skip("a measurement, not a test: run it with POSTBOX_MEASURE=1 (docs/scaling.md)")
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
		cpu := f.cpu()
		ids, took := f.send("/hooks/ingest", n, clients, run.targets, nil)
		t.Logf("%s: %d deliveries in %s: %.0f/s; postbox CPU %.0f µs per delivery", run.name, len(ids), took.Round(time.Millisecond),
			float64(len(ids))/took.Seconds(), float64((f.cpu()-cpu).Microseconds())/float64(len(ids)))
	}

	// Round trips, counted by a proxy in front of PostgreSQL, by three
	// other instances; instance 0 stays to answer the test's queries.
	// The others stop first: the server's connections are shared with
	// every test running meanwhile.
	for _, n := range f.nodes[1:] {
		n.stop()
	}
	u, err := url.Parse(f.store)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newPGProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	counted := &fleet{t: t, store: f.store, runs: f.runs}
	for range 3 {
		counted.add(u.String())
	}
	counted.send("/hooks/ingest", 100, clients, []int{0, 1, 2}, nil)
	for _, run := range []struct {
		name, hook string
		targets    []int
	}{
		{"ingest, 1 instance", "/hooks/ingest", []int{0}},
		{"ingest, 3 instances", "/hooks/ingest", []int{0, 1, 2}},
		{"exec action, 1 instance receiving, 3 running actions", "/hooks/work", []int{0}},
		{"exec action, 3 instances", "/hooks/work", []int{0, 1, 2}},
	} {
		before := proxy.sends.Load()
		ids, _ := counted.send(run.hook, 1000, clients, run.targets, nil)
		if run.hook == "/hooks/work" {
			eventually(t, 60*time.Second, func() string {
				// Asked of an instance that does not go through the proxy.
				if n := len(f.nodes[0].deliveries("--state", "pending", "--limit", "100000")); n > 0 {
					return fmt.Sprintf("%d deliveries pending", n)
				}
				return ""
			})
		}
		t.Logf("%s: %.2f round trips to PostgreSQL per delivery (%d deliveries, with the instances' polls and renewals meanwhile)",
			run.name, float64(proxy.sends.Load()-before)/float64(len(ids)), len(ids))
	}
}

// cpu returns the CPU time (user and system) the fleet's live instances
// have used, from /proc (zero elsewhere).
func (f *fleet) cpu() time.Duration {
	var total time.Duration
	for _, n := range f.nodes {
		if n.cmd == nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", n.cmd.Process.Pid))
		if err != nil {
			return 0
		}
		// Fields after the command's ")": state is field 3, utime 14, stime 15.
		fields := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(fields) < 13 {
			return 0
		}
		for _, v := range fields[11:13] {
			ticks, _ := strconv.ParseInt(v, 10, 64)
			total += time.Duration(ticks) * time.Second / 100 // USER_HZ
		}
	}
	return total
}
