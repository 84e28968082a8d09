package postgres

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Listener timing: reconnects back off from minBackoff to maxBackoff; an
// idle connection is pinged every checkEvery so that one lost without a
// word from the network (a server that vanished) is noticed.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
	checkEvery = time.Minute
	pingWithin = 10 * time.Second
)

// listenState is what the listener shows of itself.
type listenState struct {
	pid     atomic.Uint32 // server process of the listening connection; 0 while not listening
	listens atomic.Int64  // connections that got as far as listening (and signalled)
}

// Wake returns a channel that receives when jobs may have become runnable:
// some instance on this database (this one included) appended a delivery
// with actions or released a job, or the listener has just (re)connected
// and may have missed notifications meanwhile. Wake-ups are coalesced: one
// receive may stand for many notifications, so the receiver should claim
// until Claim returns fewer jobs than it asked for. A retry that becomes
// due is not announced: keep polling too, at a slower pace.
//
// The first call starts the listener: a connection of its own (not from the
// pool) that LISTENs on Channel and reconnects with backoff when it is
// lost. While it is down, nothing is received. The channel has one slot
// and is shared by every caller, so give it to one receiver (the queue's
// loop, forwarding to queue.Notify). It is never closed; after Close it no
// longer receives.
func (db *DB) Wake() <-chan struct{} {
	db.startListen.Do(func() {
		if db.ctx.Err() != nil {
			return
		}
		db.wg.Add(1)
		go db.listen()
	})
	return db.wake
}

func (db *DB) signal() {
	select {
	case db.wake <- struct{}{}:
	default:
	}
}

func (db *DB) logger() *slog.Logger {
	if l := db.log.Load(); l != nil {
		return l
	}
	return slog.New(slog.DiscardHandler)
}

func (db *DB) listen() {
	defer db.wg.Done()
	backoff := minBackoff
	for {
		listened, err := db.listenOnce(db.ctx)
		if db.ctx.Err() != nil {
			return
		}
		if listened {
			backoff = minBackoff
		}
		db.logger().Warn("postgres listener: connection lost; reconnecting", "channel", Channel, "err", err, "in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-db.ctx.Done():
			t.Stop()
			return
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// listenOnce connects, listens and forwards notifications until the
// connection fails or ctx ends. listened reports whether it got as far as
// listening, which resets the backoff.
func (db *DB) listenOnce(ctx context.Context) (listened bool, err error) {
	c, err := pgx.ConnectConfig(ctx, db.listenCfg)
	if err != nil {
		return false, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c.Close(cctx)
	}()
	if _, err := c.Exec(ctx, `LISTEN `+Channel); err != nil {
		return false, err
	}
	db.listener.pid.Store(c.PgConn().PID())
	defer db.listener.pid.Store(0)
	db.logger().Debug("postgres listener: listening", "channel", Channel)
	// Notifications sent while no one listened are lost: say that there
	// may be work.
	db.signal()
	db.listener.listens.Add(1)
	for {
		wctx, cancel := context.WithTimeout(ctx, checkEvery)
		_, err := c.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			db.signal()
		case ctx.Err() != nil:
			return true, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
			pctx, cancel := context.WithTimeout(ctx, pingWithin)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				return true, err
			}
		default:
			return true, err
		}
	}
}
