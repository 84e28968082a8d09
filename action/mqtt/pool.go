package mqtt

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"os"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// DefaultPool is the pool of the actions that config builds. It is
// package-level state on purpose: config's registry of action kinds builds
// each action from its settings alone, with no way to hand it a pool, and
// actions of every hook (and of every reload of the configuration) must
// share one connection per broker. Code that builds actions itself should
// pass a pool of its own to New.
var DefaultPool = &Pool{}

// Pool keeps one MQTT connection per broker, credentials and client id,
// shared by the actions built with it. The zero value is an empty pool,
// ready to use. Connections are opened on the first publish and re-opened
// automatically when lost.
type Pool struct {
	mu     sync.Mutex
	conns  map[connKey]*conn
	closed bool
}

// connKey identifies one connection of a pool.
type connKey struct {
	broker, username, password, clientID string
}

// errPoolClosed is returned by publishes after Pool.Close.
var errPoolClosed = errors.New("mqtt: connection pool is closed")

// conn returns the pool's connection for k, creating (not opening) it.
func (p *Pool) conn(k connKey) (*conn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil, errPoolClosed
	}
	if c, ok := p.conns[k]; ok {
		return c, nil
	}
	if p.conns == nil {
		p.conns = map[connKey]*conn{}
	}
	c := newConn(k)
	p.conns[k] = c
	return c, nil
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
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() { c.client.Disconnect(250) })
	}
	wg.Wait()
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
