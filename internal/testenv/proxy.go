package testenv

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy forwards TCP connections to a service (Mosquitto, say), so that a
// test sees from the service's side which connections a client opens and
// closes, can hold back what clients send, or can cut the connections.
type Proxy struct {
	// Addr is the host:port clients connect to instead of the service's.
	Addr string

	target   string
	l        net.Listener
	mu       sync.Mutex
	conns    []net.Conn
	accepted int
	open     int
	// gate is write-locked while what clients send is held back.
	gate sync.RWMutex
	held bool
	// waiting counts the writes held back at the gate.
	waiting atomic.Int32
	wg      sync.WaitGroup
}

// NewProxy starts a proxy on loopback to target, stopped (its connections
// cut) when the test ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{Addr: l.Addr().String(), target: target, l: l}
	p.wg.Go(p.accept)
	t.Cleanup(func() { l.Close(); p.Release(); p.Cut(); p.wg.Wait() })
	return p
}

func (p *Proxy) accept() {
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.accepted++
		p.open++
		p.mu.Unlock()
		p.wg.Go(func() {
			// Returns once the client closed its connection (or Cut did).
			io.Copy(gated{up, p}, c)
			up.Close()
			p.mu.Lock()
			p.open--
			p.mu.Unlock()
		})
		p.wg.Go(func() { io.Copy(c, up); c.Close() })
	}
}

// gated writes to the service unless the proxy holds it back.
type gated struct {
	w io.Writer
	p *Proxy
}

func (g gated) Write(b []byte) (int, error) {
	g.p.waiting.Add(1)
	g.p.gate.RLock()
	g.p.waiting.Add(-1)
	defer g.p.gate.RUnlock()
	return g.w.Write(b)
}

// Accepted returns how many connections clients opened so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Open returns how many connections are open: accepted, and not closed by
// their client.
func (p *Proxy) Open() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open
}

// Hold holds back what clients send from now on, until Release: a request
// under way then waits for its answer.
func (p *Proxy) Hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.held {
		p.gate.Lock()
		p.held = true
	}
}

// Waiting returns how many sends of clients Hold holds back now.
func (p *Proxy) Waiting() int { return int(p.waiting.Load()) }

// Release sends on what Hold held back.
func (p *Proxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.held {
		p.gate.Unlock()
		p.held = false
	}
}

// Cut closes every connection made so far and returns how many there were;
// new ones are still accepted.
func (p *Proxy) Cut() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	n := len(p.conns) / 2
	p.conns = nil
	return n
}
