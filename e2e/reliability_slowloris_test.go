package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowConfig cuts slow clients off quickly: 2s to send the head, 4s for
// the whole request.
const slowConfig = `
listen: 127.0.0.1:0
admin: off
data: ./data
limits:
  read_header_timeout: 2s
  read_timeout: 4s
hooks:
  - id: ingest
`

// Slowloris attack shape: how many connections each kind of attacker
// holds open at once, and the pause between the bytes it trickles.
const (
	slowHeaders = 150 // send the head one byte at a time, never finishing
	slowBodies  = 100 // send a whole head, then the body one byte at a time
	silent      = 50  // connect and send nothing
	trickle     = 200 * time.Millisecond
	// normalRequests is how many requests the measuring client sends in
	// each phase; under attack it goes on for attackFor at least, so that
	// every slow connection is cut off and replaced a few times meanwhile.
	normalRequests = 300
	attackFor      = 10 * time.Second
)

// TestSlowloris holds hundreds of connections that trickle header and body
// bytes (and some that send nothing) while a normal client sends requests
// one after another, each on a new connection as a webhook sender does.
// The normal client's latency is measured without and with the attack and
// logged (docs/reliability.md has the figures; nothing here asserts a
// time). Every normal request must succeed, and every slow connection must
// be closed by the server, none left hanging once the attack stops.
func TestSlowloris(t *testing.T) {
	t.Parallel()
	s := startServer(t, slowConfig)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	quiet := measureLatency(t, client, s.url+"/hooks/ingest", normalRequests, 0)
	before := s.memory()

	a := &attack{addr: s.addr, stop: make(chan struct{})}
	a.start(slowHeaders, a.slowHead)
	a.start(slowBodies, a.slowBody)
	a.start(silent, a.silent)
	eventually(t, 20*time.Second, func() string {
		if n := a.open.Load(); n < slowHeaders+slowBodies+silent {
			return fmt.Sprintf("%d slow connections open", n)
		}
		return ""
	})
	attacked := measureLatency(t, client, s.url+"/hooks/ingest", normalRequests, attackFor)
	during := s.memory()
	held := a.open.Load()
	close(a.stop)
	a.wg.Wait()
	after := measureLatency(t, client, s.url+"/hooks/ingest", normalRequests, 0)

	t.Logf("normal client, requests one after another, each on a new connection:")
	t.Logf("  without attack: %s", quiet)
	t.Logf("  under attack:   %s (%d slow connections open at the end)", attacked, held)
	t.Logf("  after attack:   %s", after)
	t.Logf("p99 under attack / without: %.2f×", float64(attacked.p99)/float64(quiet.p99))
	t.Logf("slow connections: %d opened; %d closed by the server (longest lived %s); %d answered 408, %d answered 400",
		a.opened.Load(), a.closedByServer.Load(), time.Duration(a.longest.Load()).Round(time.Millisecond), a.got408.Load(), a.got400.Load())
	t.Logf("server memory: before the attack %s; during %s", before, during)
	if n := a.hung.Load(); n > 0 {
		t.Errorf("%d slow connections were still open %s after the attack stopped: the server never closed them", n, hangDeadline)
	}
	checkBounded(t, during)
}

// hangDeadline is how long an attacker waits, once the attack stops, for
// the server to close its connection; well over read_timeout.
const hangDeadline = 15 * time.Second

// attack runs slow clients until stop closes; each attacker reconnects as
// soon as the server closes it, so that the number of slow connections
// stays up.
type attack struct {
	addr string
	stop chan struct{}
	wg   sync.WaitGroup

	open           atomic.Int64 // connections open now
	opened         atomic.Int64
	closedByServer atomic.Int64
	hung           atomic.Int64 // not closed by the server within hangDeadline of stop
	got408         atomic.Int64
	got400         atomic.Int64
	longest        atomic.Int64 // the longest a connection lived, in ns
}

// start runs n attackers, each looping over connections served by fn,
// which reports whether the server closed the connection (false: it was
// still open hangDeadline after the attack stopped).
func (a *attack) start(n int, fn func(c net.Conn) (closed bool)) {
	for range n {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for {
				select {
				case <-a.stop:
					return
				default:
				}
				c, err := net.Dial("tcp", a.addr)
				if err != nil {
					// Out of ports or descriptors: back off a little.
					select {
					case <-a.stop:
						return
					case <-time.After(trickle):
					}
					continue
				}
				a.opened.Add(1)
				a.open.Add(1)
				born := time.Now()
				if fn(c) {
					a.closedByServer.Add(1)
					lived := int64(time.Since(born))
					for old := a.longest.Load(); lived > old && !a.longest.CompareAndSwap(old, lived); old = a.longest.Load() {
					}
				} else {
					a.hung.Add(1)
				}
				a.open.Add(-1)
				c.Close()
			}
		}()
	}
}

// slowHead sends a request head a byte at a time and never finishes it.
func (a *attack) slowHead(c net.Conn) bool {
	head := "POST /hooks/ingest HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Slow: loris\r\n", 1000)
	return a.dribble(c, head)
}

// slowBody sends a whole head, then the body a byte at a time.
func (a *attack) slowBody(c net.Conn) bool {
	io.WriteString(c, "POST /hooks/ingest HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	return a.dribble(c, strings.Repeat("b", 100000))
}

// silent sends nothing and waits to be closed.
func (a *attack) silent(c net.Conn) bool {
	return a.dribble(c, "")
}

// dribble writes data one byte per trickle interval until the server
// closes the connection. When the attack stops, the client goes quiet but
// keeps the connection and waits up to hangDeadline for the server to
// close it. It reports whether the server did.
func (a *attack) dribble(c net.Conn, data string) bool {
	ended := make(chan error, 1)
	go func() {
		// The server's answer (408, 400) and its closing end up here.
		buf := make([]byte, 512)
		for {
			n, err := c.Read(buf)
			a.countAnswer(buf[:n])
			if err != nil {
				ended <- err
				return
			}
		}
	}()
	tick := time.NewTicker(trickle)
	defer tick.Stop()
	for i := 0; ; i++ {
		select {
		case err := <-ended:
			return !errors.Is(err, os.ErrDeadlineExceeded)
		case <-a.stop:
			c.SetReadDeadline(time.Now().Add(hangDeadline))
			return !errors.Is(<-ended, os.ErrDeadlineExceeded)
		case <-tick.C:
			if i < len(data) {
				c.Write([]byte{data[i]})
			}
		}
	}
}

func (a *attack) countAnswer(b []byte) {
	switch {
	case strings.HasPrefix(string(b), "HTTP/1.1 408"):
		a.got408.Add(1)
	case strings.HasPrefix(string(b), "HTTP/1.1 400"):
		a.got400.Add(1)
	}
}

// latency is a summary of request durations.
type latency struct {
	n                  int
	p50, p90, p99, max time.Duration
}

func (l latency) String() string {
	return fmt.Sprintf("%d requests: p50 %s, p90 %s, p99 %s, max %s", l.n, l.p50.Round(10*time.Microsecond), l.p90.Round(10*time.Microsecond),
		l.p99.Round(10*time.Microsecond), l.max.Round(10*time.Microsecond))
}

// summarize sorts ds and returns its percentiles.
func summarize(ds []time.Duration) latency {
	if len(ds) == 0 {
		return latency{}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	at := func(q float64) time.Duration {
		i := int(q*float64(len(ds))+0.999999) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return latency{n: len(ds), p50: at(0.50), p90: at(0.90), p99: at(0.99), max: ds[len(ds)-1]}
}

// measureLatency posts small JSON deliveries one after the other, n of them
// and for at least min, and returns their latencies; every one must be
// answered 2xx.
func measureLatency(t *testing.T, client *http.Client, url string, n int, min time.Duration) latency {
	t.Helper()
	ds := make([]time.Duration, 0, n)
	begin := time.Now()
	for i := 0; i < n || time.Since(begin) < min; i++ {
		start := time.Now()
		resp, err := client.Post(url, "application/json", strings.NewReader(fmt.Sprintf(`{"n":%d}`, i)))
		if err != nil {
			t.Fatalf("normal request %d: %v", i, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		ds = append(ds, time.Since(start))
		if resp.StatusCode/100 != 2 {
			t.Fatalf("normal request %d: status %d", i, resp.StatusCode)
		}
	}
	return summarize(ds)
}
