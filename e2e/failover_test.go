package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/postbox/postbox"
)

// The scale-out failure tests (issue 19): an instance killed, stopped, or
// cut off from PostgreSQL under load.

// slowWorkConfig is scaleConfig with an action that takes a while
// (record.sh, then 200 ms), so that every instance has actions running
// when one is stopped or killed.
var slowWorkConfig = strings.Replace(scaleConfig, `args: ["@TESTDATA@/record.sh"]`,
	`args: ["-c", "sh @TESTDATA@/record.sh && sleep 0.2"]`, 1)

// testLease is the lease of the instances of the stop and cut tests
// (POSTBOX_LEASE; renewed every second), shorter than the default 15 s so
// that a takeover takes seconds of CI time.
const testLease = "3s"

// id returns the instance id the node registered with, from its ready
// line.
func (n *node) id() string {
	n.t.Helper()
	r := n.waitLog("the ready line", func(r record) bool { return r["msg"] == "ready" })
	id, _ := r["instance"].(string)
	if id == "" {
		n.t.Fatalf("the ready line names no instance: %v", r)
	}
	return id
}

// instances lists the store's instances with `postbox instances --json`.
func (n *node) instances() []postbox.Instance {
	n.t.Helper()
	res := n.cli("instances", "--config", "postbox.yaml", "--json")
	if res.code != 0 {
		n.t.Fatalf("postbox instances: exit %d\n%s", res.code, res.stderr)
	}
	var v struct{ Instances []postbox.Instance }
	if err := json.Unmarshal([]byte(res.stdout), &v); err != nil {
		n.t.Fatalf("postbox instances --json: %v\n%s", err, res.stdout)
	}
	return v.Instances
}

// held returns the deliveries whose jobs instance id holds, as `postbox
// instances` lists them.
func (n *node) held(id string) map[string]bool {
	n.t.Helper()
	out := map[string]bool{}
	for _, in := range n.instances() {
		if in.ID == id {
			for _, j := range in.Jobs {
				out[j.Delivery] = true
			}
		}
	}
	return out
}

// countLogs counts the node's log records from index from on whose
// message starts with one of prefixes.
func (n *node) countLogs(from int, prefixes ...string) int {
	n.logs.mu.Lock()
	defer n.logs.mu.Unlock()
	c := 0
	for _, r := range n.logs.records[from:] {
		msg, _ := r["msg"].(string)
		for _, p := range prefixes {
			if strings.HasPrefix(msg, p) {
				c++
				break
			}
		}
	}
	return c
}

// takenOver waits until no job of the deliveries in ids is held by
// instance holder any more (another instance claimed it, which records an
// interrupted attempt, or it finished before it was lost), reading the
// store directly. It returns how long that took from since, and the
// deliveries that were taken over (those with an interrupted attempt).
func (f *fleet) takenOver(holder string, ids map[string]bool, since time.Time, timeout time.Duration) (time.Duration, map[string]bool) {
	t := f.t
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, f.store)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	want := make([]string, 0, len(ids))
	for id := range ids {
		want = append(want, id)
	}
	eventually(t, timeout, func() string {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM jobs WHERE holder = $1 AND delivery = ANY($2)`, holder, want).Scan(&n)
		if err != nil {
			return err.Error()
		}
		if n > 0 {
			return fmt.Sprintf("%d of the %d jobs held by the lost instance not taken over", n, len(want))
		}
		return ""
	})
	took := time.Since(since)
	rows, err := conn.Query(ctx, `SELECT DISTINCT delivery FROM attempts WHERE outcome = 'interrupted' AND delivery = ANY($1)`, want)
	if err != nil {
		t.Fatal(err)
	}
	taken := map[string]bool{}
	var id string
	if _, err := pgx.ForEachRow(rows, []any{&id}, func() error { taken[id] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	return took, taken
}

// settled waits until no delivery is pending and checks that every id in
// accepted is done and its action ran; it returns the runs per delivery.
// Repeats (more than one run) are allowed only for the deliveries in
// mayRepeat.
func (f *fleet) settled(via *node, accepted []string, mayRepeat map[string]bool, timeout time.Duration) map[string]int {
	t := f.t
	t.Helper()
	eventually(t, timeout, func() string {
		if n := len(via.deliveries("--state", "pending", "--limit", "100000")); n > 0 {
			return fmt.Sprintf("%d deliveries still pending", n)
		}
		return ""
	})
	stored := map[string]string{}
	for _, d := range via.deliveries("--limit", "100000", "--hook", "work") {
		stored[d.ID] = d.State
	}
	runs := countRuns(t, f.runs)
	bad := 0
	for _, id := range accepted {
		if stored[id] != "done" || runs[id] == 0 {
			if bad++; bad <= 10 {
				t.Errorf("delivery %s answered 2xx is %q with %d runs, want done with one at least", id, stored[id], runs[id])
			}
		}
	}
	var repeated []string
	for id, n := range runs {
		if _, ok := stored[id]; !ok {
			t.Errorf("an action ran for %s, which is not stored", id)
		}
		if n > 1 && !mayRepeat[id] {
			repeated = append(repeated, fmt.Sprintf("%s (%d runs)", id, n))
		}
	}
	if len(repeated) > 0 {
		sort.Strings(repeated)
		t.Errorf("actions ran again that the lost instance did not hold: %s", strings.Join(repeated, ", "))
	}
	return runs
}

// TestScaleOutSIGSTOP stops one of three instances (SIGSTOP) under load
// until every job it held has been taken over by the others, then lets it
// go on (SIGCONT): its late results and renewals must be refused
// (fenced), nothing may be lost, and only its held jobs may run twice.
// The lease is 3 s (POSTBOX_LEASE) instead of 15 s, and the stop lasts
// until the takeover (about a lease and a poll) rather than the issue's
// 60 s: the same sequence, a minute shorter.
func TestScaleOutSIGSTOP(t *testing.T) {
	const total, clients = 600, 8
	if slowWorkConfig == scaleConfig {
		t.Fatal("slowWorkConfig did not find scaleConfig's action to slow down")
	}
	f := &fleet{t: t, store: pgStore(t), runs: t.TempDir() + "/runs", config: slowWorkConfig}
	for range 3 {
		f.add(f.store, "POSTBOX_LEASE="+testLease)
	}
	stopped, live := f.nodes[0], f.nodes[1]
	stoppedID := stopped.id()
	var stopOnce sync.Once
	var stoppedAt time.Time
	var fromLog int
	stop := make(chan struct{})
	sent := make(chan []string)
	go func() {
		ids, _ := f.send("/hooks/work", total, clients, []int{0, 1, 2}, func(answered int) {
			if answered < total/3 {
				return
			}
			stopOnce.Do(func() {
				// Its clients move on to the others; requests under
				// way wait for the SIGCONT.
				stopped.dead.Store(true)
				if err := stopped.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
					t.Errorf("SIGSTOP: %v", err)
				}
				stoppedAt = time.Now()
				fromLog = stopped.logs.len()
				close(stop)
			})
		})
		sent <- ids
	}()
	<-stop
	held := live.held(stoppedID)
	if len(held) == 0 {
		stopped.cmd.Process.Signal(syscall.SIGCONT)
		t.Fatalf("the stopped instance held no job (listed: %+v): nothing to take over", live.instances())
	}
	took, taken := f.takenOver(stoppedID, held, stoppedAt, 30*time.Second)
	if err := stopped.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatalf("SIGCONT: %v", err)
	}
	stopped.dead.Store(false)
	ids := <-sent
	t.Logf("instance 0 stopped after %d deliveries answered, holding %d jobs; %d taken over (the rest finished just before) %s after the stop; SIGCONT; %d deliveries answered 2xx in all",
		total/3, len(held), len(taken), took.Round(time.Millisecond), len(ids))

	// Back, it finds each job taken over: at its first renewal (the
	// action is stopped) or when it records the result (refused).
	eventually(t, 20*time.Second, func() string {
		if n := stopped.countLogs(fromLog, "lease lost to another claim", "late result refused"); n < len(taken) {
			return fmt.Sprintf("%d fenced writes logged by the stopped instance, want one per job taken over (%d)", n, len(taken))
		}
		return ""
	})
	lost := stopped.countLogs(fromLog, "lease lost to another claim")
	refused := stopped.countLogs(fromLog, "late result refused")
	f.settled(live, ids, held, 60*time.Second)
	// The jobs taken over each have one interrupted attempt and then the
	// attempt of the instance that took over, and no result of the
	// stopped one.
	for id := range taken {
		d := live.delivery(id)
		var outcomes []string
		for _, a := range d.Attempts {
			outcomes = append(outcomes, string(a.Outcome))
		}
		if !slices.Equal(outcomes, []string{"interrupted", "ok"}) {
			t.Errorf("delivery %s held by the stopped instance has attempts %v, want [interrupted ok]", id, outcomes)
		}
	}
	t.Logf("stopped instance: %d leases found lost at renewal, %d late results refused (fenced); %d deliveries done",
		lost, refused, len(ids))
	// It serves again.
	if status := postWork(t, stopped); status != 200 && status != 202 {
		t.Errorf("the resumed instance answered %d", status)
	}
}

// postWork posts one delivery to n's work hook and returns the status.
func postWork(t *testing.T, n *node) int {
	t.Helper()
	resp, err := n.client.Post(n.url+"/hooks/work", "application/json", strings.NewReader(`{"after":"resume"}`))
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// pgProxy forwards TCP connections to PostgreSQL, and can cut them: a
// network partition between the instances and their database that the
// test controls.
type pgProxy struct {
	t      *testing.T
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns map[net.Conn]bool
	wg    sync.WaitGroup
	// sends counts the reads of data from the instances: one per
	// message flight (a query, a batch), the round trips they make.
	sends atomic.Int64
}

// newPGProxy listens on loopback and forwards to target (host:port).
func newPGProxy(t *testing.T, target string) *pgProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{t: t, ln: ln, target: target, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		ln.Close()
		p.setCut(true)
		p.wg.Wait()
	})
	return p
}

func (p *pgProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close() // unreachable: the connection ends at once
			continue
		}
		p.conns[c] = true
		p.mu.Unlock()
		p.wg.Add(1)
		go p.forward(c)
	}
}

func (p *pgProxy) forward(c net.Conn) {
	defer p.wg.Done()
	s, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.drop(c)
		return
	}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		s.Close()
		p.drop(c)
		return
	}
	p.conns[s] = true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(s, countingReader{c, &p.sends}); done <- struct{}{} }()
	go func() { io.Copy(c, s); done <- struct{}{} }()
	<-done
	p.drop(c)
	p.drop(s)
	<-done
}

// countingReader counts the reads that return data.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	if n > 0 {
		c.n.Add(1)
	}
	return n, err
}

func (p *pgProxy) drop(c net.Conn) {
	c.Close()
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// setCut cuts every connection and refuses new ones (on), or lets them
// through again (off).
func (p *pgProxy) setCut(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = on
	if on {
		for c := range p.conns {
			c.Close()
		}
	}
}

// TestScaleOutDatabaseCut runs two instances on PostgreSQL under load and
// breaks their connections twice: first PostgreSQL terminates their
// backends (pg_terminate_backend, as after a failover or an
// administrator's kill), then the network between them and the database
// is cut for two seconds (every connection reset, none accepted). While
// the database is unreachable a request must be answered 503 with
// Retry-After, never 2xx nor another error; afterwards both instances
// must serve and run actions again by themselves, and every delivery
// answered 2xx must be done.
func TestScaleOutDatabaseCut(t *testing.T) {
	const clients = 8
	direct := pgStore(t)
	u, err := url.Parse(direct)
	if err != nil {
		t.Fatal(err)
	}
	app := u.Query().Get("search_path") // unique to this test: names its backends
	proxy := newPGProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	f := &fleet{t: t, store: direct, runs: t.TempDir() + "/runs"}
	for range 2 {
		f.add(u.String(), "POSTBOX_LEASE="+testLease)
	}
	live := f.nodes[1]

	// Load: clients post until told to stop, each to its instance, and
	// sort the answers.
	var (
		mu          sync.Mutex
		accepted    []string
		unavailable int
		noRetry     int
		others      []string
	)
	stopLoad := make(chan struct{})
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			n := f.nodes[c%len(f.nodes)]
			client := &http.Client{Timeout: 20 * time.Second}
			defer client.CloseIdleConnections()
			for k := 0; ; k++ {
				select {
				case <-stopLoad:
					return
				default:
				}
				resp, err := client.Post(n.url+"/hooks/work", "application/json", strings.NewReader(fmt.Sprintf(`{"c":%d,"k":%d}`, c, k)))
				if err != nil {
					mu.Lock()
					others = append(others, err.Error())
					mu.Unlock()
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				switch {
				case resp.StatusCode/100 == 2:
					accepted = append(accepted, resp.Header.Get("Postbox-Delivery"))
				case resp.StatusCode == http.StatusServiceUnavailable:
					unavailable++
					if resp.Header.Get("Retry-After") == "" {
						noRetry++
					}
				default:
					others = append(others, resp.Status)
				}
				mu.Unlock()
				if resp.StatusCode/100 != 2 {
					time.Sleep(20 * time.Millisecond) // as a sender backs off
				}
			}
		})
	}
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted), unavailable
	}
	waitAccepted := func(more int) {
		t.Helper()
		from, _ := count()
		eventually(t, 30*time.Second, func() string {
			if n, _ := count(); n < from+more {
				return fmt.Sprintf("%d of %d more deliveries accepted", n-from, more)
			}
			return ""
		})
	}
	waitAccepted(200)

	// PostgreSQL ends the instances' connections, three times.
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, direct)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	terminated := 0
	for range 3 {
		var n int
		err := admin.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
			WHERE application_name = $1 AND pid <> pg_backend_pid()`, app).Scan(&n)
		if err != nil {
			t.Fatalf("pg_terminate_backend: %v", err)
		}
		terminated += n
		waitAccepted(50)
	}
	if terminated == 0 {
		t.Fatal("no backend of the instances was found to terminate")
	}
	acceptedBefore, _ := count()

	// The network to the database is cut: nothing is accepted, every
	// answer is 503 until it is back.
	proxy.setCut(true)
	_, before503 := count()
	eventually(t, 20*time.Second, func() string {
		if _, n := count(); n < before503+2*clients {
			return "waiting for answers while the database is unreachable"
		}
		return ""
	})
	acceptedCut, _ := count()
	time.Sleep(2 * time.Second) // the partition lasts a while: the stimulus, not a wait for a result
	acceptedLate, unavailableCut := count()
	proxy.setCut(false)
	if acceptedLate > acceptedCut+2*clients {
		// A request that was being appended when the cut came may still
		// have committed; none can commit once every connection is gone.
		t.Errorf("%d deliveries accepted while the database was unreachable", acceptedLate-acceptedCut)
	}

	// Back: both instances accept again by themselves.
	waitAccepted(200)
	close(stopLoad)
	wg.Wait()
	for i, n := range f.nodes {
		if status := postWork(t, n); status != 200 && status != 202 {
			t.Errorf("instance %d answers %d after the database came back", i, status)
		}
	}
	mu.Lock()
	if len(others) > 0 {
		t.Errorf("%d answers neither 2xx nor 503, e.g. %q", len(others), others[:min(len(others), 5)])
	}
	if noRetry > 0 {
		t.Errorf("%d answers 503 without Retry-After", noRetry)
	}
	ids := slices.Clone(accepted)
	mu.Unlock()

	// Repeats can come from a result whose recording was cut off: its job
	// runs again once its lease ends. Every delivery may repeat here.
	mayRepeat := map[string]bool{}
	for _, id := range ids {
		mayRepeat[id] = true
	}
	runs := f.settled(live, ids, mayRepeat, 60*time.Second)
	twice := 0
	for _, n := range runs {
		if n > 1 {
			twice++
		}
	}
	t.Logf("%d backends terminated in three rounds, %d deliveries accepted before the cut; while cut: %d answers 503 (with Retry-After), %d accepted as the cut began; %d accepted in all, all done; %d ran twice",
		terminated, acceptedBefore, unavailableCut-before503, acceptedCut-acceptedBefore, len(ids), twice)
	if unavailableCut == before503 {
		t.Error("no answer was 503 while the database was unreachable")
	}
}
