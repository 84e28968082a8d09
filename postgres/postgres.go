// Package postgres is the postbox.Store on PostgreSQL, for several postbox
// instances sharing one queue. Every instance opens the same database;
// deliveries are deduplicated by the primary key, workers claim jobs with
// FOR UPDATE SKIP LOCKED under a lease kept on the database's clock, a
// lease that runs out (its instance died) makes the job claimable again,
// and NOTIFY postbox_jobs tells idle instances that work arrived (see
// DB.Wake).
//
// Writes are committed with synchronous_commit on: Append returns only
// once the delivery is on disk (and on the synchronous standbys, where
// the server has them).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/postbox/postbox"
)

var (
	_ postbox.Store = (*DB)(nil)
	_ postbox.Waker = (*DB)(nil)
)

// Channel is the notification channel that Append, Release and Replay
// notify and Wake listens on.
const Channel = "postbox_jobs"

// nowNS is the database's clock in nanoseconds since the Unix epoch. Leases
// are set and compared on this one clock, so that instances whose clocks
// disagree still agree on when a lease ends. now() is fixed for a
// transaction, so every use in one statement sees the same value.
const nowNS = `(extract(epoch FROM now()) * 1000000000)::int8`

// DB is the PostgreSQL store. Create it with Open; the zero value is not
// usable. Its methods are safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool

	listenCfg   *pgx.ConnConfig
	ctx         context.Context // ends at Close; owns the listener
	cancel      context.CancelFunc
	wake        chan struct{}
	notifyReq   chan struct{}
	startListen sync.Once
	listener    listenState
	wg          sync.WaitGroup
	closeOnce   sync.Once

	onCommit atomic.Pointer[func(d time.Duration, n int)]
	log      atomic.Pointer[slog.Logger]
	holder   atomic.Pointer[string] // the registered instance: see Register
}

// SetLogger makes the store report to l what it does in the background:
// the listener losing its connection and reconnecting, a notification that
// could not be sent. Until it is called, those reports are discarded.
func (db *DB) SetLogger(l *slog.Logger) { db.log.Store(l) }

// SetCommitObserver makes the store call fn after every write transaction
// it commits for Append and Release, with its duration and the number of
// writes it carried (always 1: each Append is its own transaction), for
// metrics.
func (db *DB) SetCommitObserver(fn func(d time.Duration, n int)) { db.onCommit.Store(&fn) }

// Open connects to the database at url (postgres://user@host:port/db?...,
// any form pgx accepts, including pool_max_conns) and brings its schema up
// to date. Tables are made in the first schema of the search_path, so
// several postbox installations can share one database in their own
// schemas (options=-c%20search_path%3Dname).
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("open postgres: invalid connection string")
	}
	cfg.AfterConnect = requireSyncCommit
	if _, set := cfg.ConnConfig.RuntimeParams[idleTxTimeout]; !set {
		cfg.ConnConfig.RuntimeParams[idleTxTimeout] = idleTxTimeoutMS
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if _, err := migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres %s: %w", describe(cfg), err)
	}
	dctx, cancel := context.WithCancel(context.Background())
	listenCfg := cfg.ConnConfig.Copy()
	if listenCfg.RuntimeParams == nil {
		listenCfg.RuntimeParams = map[string]string{}
	}
	// Named so that it can be told apart in pg_stat_activity.
	listenCfg.RuntimeParams["application_name"] = strings.TrimSpace(listenCfg.RuntimeParams["application_name"] + " postbox listener")
	db := &DB{
		pool:      pool,
		listenCfg: listenCfg,
		ctx:       dctx,
		cancel:    cancel,
		wake:      make(chan struct{}, 1),
		notifyReq: make(chan struct{}, 1),
	}
	db.wg.Add(2)
	go db.notifier()
	go db.pruner()
	return db, nil
}

// Close stops the listener and closes every connection, after waiting for
// the queries in flight. Calls after Close fail.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		// From here on Wake starts no listener; one being started is
		// counted in wg before this returns.
		db.startListen.Do(func() {})
		db.cancel()
		db.wg.Wait()
		db.pool.Close()
	})
	return nil
}

// idleTxTimeout ends the session of an instance that stalls inside one
// of its transactions (a pause, SIGSTOP, a partition) after 5 s, unless
// the URL sets it: the transaction's row locks would otherwise keep the
// jobs it locked from being taken over (claims skip locked rows) until the
// instance comes back. postbox's transactions are a few round trips; none
// waits for the client longer than that unless the client stopped.
const (
	idleTxTimeout   = "idle_in_transaction_session_timeout"
	idleTxTimeoutMS = "5000"
)

// requireSyncCommit turns synchronous_commit back on for postbox's
// connections where the server or role turned it off: without it a
// committed Append could be lost in a crash after the client was told 2xx.
// local, remote_write and remote_apply are left as configured.
func requireSyncCommit(ctx context.Context, c *pgx.Conn) error {
	_, err := c.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', false)
		WHERE current_setting('synchronous_commit') = 'off'`)
	return err
}

// describe names the server and database for error messages, without the
// password.
func describe(cfg *pgxpool.Config) string {
	c := cfg.ConnConfig
	return fmt.Sprintf("%s@%s:%d/%s", c.User, c.Host, c.Port, c.Database)
}

// unavailable wraps a store failure as the error the HTTP layer answers 503
// for; Detail keeps the cause for the log.
func unavailable(err error) error {
	return &postbox.Error{Code: postbox.EUNAVAILABLE, Message: "store unavailable", Detail: err.Error()}
}
