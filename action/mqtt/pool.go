package mqtt

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/postbox/postbox"
)

// Pool keeps one MQTT connection per broker, credentials and client id,
// shared by the actions that use it. A connection is counted in use by
// every provisioned action that publishes over it (from Provision to
// Cleanup) and by every publish under way; when the count drops to zero it
// is closed. So a reload that keeps a broker hands its connection over to
// the new configuration, and a reload that drops one closes its connection
// once the old configuration's publishes to it have finished.
//
// A running server keeps one Pool in its postbox.Resources (SharedPool).
// The zero value is an empty pool, ready to use. Connections are opened on
// the first publish and re-opened automatically when lost.
type Pool struct {
	mu     sync.Mutex
	conns  map[connKey]*conn
	closed bool
	// closing are the disconnects under way, which Close waits for.
	closing sync.WaitGroup
}

var _ io.Closer = (*Pool)(nil)

// poolKey is the key of a server's Pool in its postbox.Resources.
type poolKey struct{}

// SharedPool returns the Pool kept in r, making it on first use.
func SharedPool(r *postbox.Resources) (*Pool, error) {
	c, err := r.Shared(poolKey{}, func() io.Closer { return &Pool{} })
	if err != nil {
		return nil, err
	}
	return c.(*Pool), nil
}

// connKey identifies one connection of a pool.
type connKey struct {
	broker, username, password, clientID string
}

// errPoolClosed is returned by publishes after Pool.Close.
var errPoolClosed = errors.New("mqtt: connection pool is closed")

// acquire returns the pool's connection for k, creating (not opening) it,
// and counts one more user of it; release gives the use back.
func (p *Pool) acquire(k connKey) (*conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errPoolClosed
	}
	c, ok := p.conns[k]
	if !ok {
		if p.conns == nil {
			p.conns = map[connKey]*conn{}
		}
		c = newConn(k)
		p.conns[k] = c
	}
	c.users++
	return c, nil
}

// release counts one user less of c, the connection acquired for k, and
// closes it when that was the last.
func (p *Pool) release(k connKey, c *conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.users--; c.users > 0 {
		return
	}
	if p.conns[k] != c {
		return // the pool was closed, and c with it
	}
	delete(p.conns, k)
	// Nothing is under way on c: the 250ms are for paho's own
	// goroutines. Not waited for here, so that a publish or a reload
	// does not wait for it; Close does.
	p.closing.Go(func() { c.client.Disconnect(250) })
}

// Len returns the number of connections the pool holds, open or not.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Close disconnects every connection of the pool, waiting up to 250ms for
// each to finish its work in flight. Publishes after Close fail.
func (p *Pool) Close() error {
	p.mu.Lock()
	conns := p.conns
	p.conns, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range conns {
		p.closing.Go(func() { c.client.Disconnect(250) })
	}
	p.closing.Wait()
	return nil
}

// conn is one broker connection and the state of opening it.
type conn struct {
	client paho.Client
	mu     sync.Mutex
	// connecting is the token of the Connect in flight or last made; a new
	// Connect is made only when the client is neither connected nor
	// reconnecting by itself.
	connecting paho.Token
	// users counts the provisioned actions and the publishes under way
	// that use the connection; guarded by the Pool's mu.
	users int
}

func newConn(k connKey) *conn {
	id := k.clientID
	if id == "" {
		id = defaultClientID()
	}
	o := paho.NewClientOptions().
		AddBroker(k.broker).
		SetClientID(id).
		SetUsername(k.username).
		SetPassword(k.password).
		SetCleanSession(true).
		SetOrderMatters(false).
		SetKeepAlive(30 * time.Second).
		SetPingTimeout(10 * time.Second).
		SetConnectTimeout(10 * time.Second).
		SetWriteTimeout(10 * time.Second).
		// Retries of a failed first connection are the queue's business
		// (with backoff, recorded as attempts), so Connect fails fast;
		// once connected, a lost connection is re-opened in the
		// background.
		SetConnectRetry(false).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(30 * time.Second).
		SetTLSConfig(&tls.Config{MinVersion: tls.VersionTLS12})
	return &conn{client: paho.NewClient(o)}
}

// defaultClientID returns postbox-<hostname>-<random>: unique per process,
// so that two instances never push each other off the broker.
func defaultClientID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	if len(host) > 32 {
		host = host[:32]
	}
	var b [4]byte
	rand.Read(b[:])
	return "postbox-" + host + "-" + hex.EncodeToString(b[:])
}

// reconnectPoll is how often ready looks at a connection that paho is
// re-opening in the background (paho offers no channel for that).
const reconnectPoll = 20 * time.Millisecond

// ready returns once the connection is open, opening it if nobody is, or
// with the error of the attempt, or with ctx's error.
func (c *conn) ready(ctx context.Context) error {
	var tick *time.Ticker
	for {
		if c.client.IsConnectionOpen() {
			return nil
		}
		if tok := c.connect(); tok != nil {
			select {
			case <-tok.Done():
				if err := tok.Error(); err != nil {
					return err
				}
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		// paho is reconnecting by itself: wait for it.
		if tick == nil {
			tick = time.NewTicker(reconnectPoll)
			defer tick.Stop()
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// connect returns the token of the Connect that opens the connection:
// the one in flight, or a new one when the client is disconnected. It
// returns nil when the client is connected or reconnecting by itself.
func (c *conn) connect() paho.Token {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.connecting != nil {
		select {
		case <-c.connecting.Done():
		default:
			return c.connecting // still in flight
		}
	}
	if c.client.IsConnected() {
		return nil
	}
	c.connecting = c.client.Connect()
	return c.connecting
}
