// Package sqlite is the embedded postbox.Store: one SQLite file in WAL mode,
// written by a single goroutine that commits many callers' writes in one
// transaction (group commit), so that concurrent requests share one fsync.
//
// Durability is that of synchronous=FULL, by other means: the writer
// commits with synchronous=NORMAL (no fsync inside the commit) and a second
// goroutine fdatasyncs the WAL (and, once, its directory) before any caller
// of that commit is answered, while the writer runs the next batch. A write
// that returned nil is on disk. If an fsync fails, the store refuses every
// later write until it is reopened: the callers of the failed batches get
// an error, though their writes may be in the WAL (indeterminate, as when a
// connection drops before the answer). The one difference a reader can see: a
// transaction is visible to other connections (the admin API, the queue's
// next claim) a moment before its fsync ends; if power fails in that moment
// it is lost together with its callers' answers, which were never sent.
// Checkpoints run on a connection of their own and sync the WAL before
// copying it, as in FULL mode.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postbox/postbox"
)

var (
	_ postbox.Store          = (*DB)(nil)
	_ postbox.HealthReporter = (*DB)(nil)
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("sqlite: store closed")

// maxBatch caps the writes that share one transaction, so that one commit
// never holds the write lock for long.
const maxBatch = 256

// DB is the SQLite store. Create it with Open; the zero value is not usable.
type DB struct {
	path      string
	migration *Migration // what Open did to the schema
	w         *sql.DB    // one connection, used only by the writer goroutine
	r         *sql.DB    // a pool for reads, concurrent with the writer under WAL

	ops    chan *op
	quit   chan struct{}
	closed sync.Once
	wg     sync.WaitGroup

	// Now returns the current time; tests replace it.
	Now func() time.Time

	onCommit atomic.Pointer[func(d time.Duration, n int)]
	log      atomic.Pointer[slog.Logger]
	holder   atomic.Pointer[string] // the registered instance: see Register

	// wal, when set, is the WAL file that the syncer fsyncs: the writer
	// commits with synchronous=NORMAL (no fsync in the commit) and callers
	// are answered only after that fsync, so a write is durable when it
	// returns, as with synchronous=FULL, but the next batch's inserts run
	// while the disk flushes. Nil where pipelined syncing is not built
	// (the commits then use synchronous=FULL).
	wal *walFile

	// failed is set, for good, when an fsync of the WAL failed: the
	// batches committed since may not be on disk, and no later fsync
	// can be trusted to have written them (Linux drops the dirty pages of
	// a failed write-back), so every write fails until postbox restarts
	// and SQLite recovers the WAL from what the disk holds.
	failed atomic.Pointer[error]

	ck              *sql.DB // the checkpointer's connection
	checkpoint      chan struct{}
	checkpoints     atomic.Int64 // checkpoints the checkpointer ran (tests)
	sinceCheckpoint int          // writes committed since the checkpointer was last asked (writer only)

	// stmts are the writer's statements, compiled once: the writer
	// prepares a query it ran unprepared after that transaction ends
	// (preparing inside it would wait for the one connection the
	// transaction holds). Only the writer goroutine touches them.
	stmts   map[string]*sql.Stmt
	misses  map[string]bool
	inserts map[insertKey]string // multi-row INSERTs by rows (appendbatch.go)

	// rstmts are the read pool's statements for constant queries, each
	// compiled once per connection (database/sql keeps them).
	rmu    sync.Mutex
	rstmts map[string]*sql.Stmt
}

// Migration says what Open did to the file's schema.
func (db *DB) Migration() Migration { return *db.migration }

// Healthy returns the error that made the store refuse writes for good (a
// failed fsync of the WAL), or nil.
func (db *DB) Healthy() error {
	if err := db.failed.Load(); err != nil {
		return *err
	}
	return nil
}

// read returns query's statement on the read pool, compiled on first use;
// nil when it could not be prepared (the caller then runs query plainly).
func (db *DB) read(ctx context.Context, query string) *sql.Stmt {
	db.rmu.Lock()
	st, ok := db.rstmts[query]
	full := len(db.rstmts) >= maxStmts
	db.rmu.Unlock()
	if ok || full {
		return st
	}
	// Prepared without the lock: preparing waits for a connection.
	st, err := db.r.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	db.rmu.Lock()
	defer db.rmu.Unlock()
	if prev, ok := db.rstmts[query]; ok {
		st.Close()
		return prev
	}
	db.rstmts[query] = st
	return st
}

// queryRow runs a constant query on the read pool with a compiled statement.
func (db *DB) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	if st := db.read(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return db.r.QueryRowContext(ctx, query, args...)
}

// query runs a constant query on the read pool with a compiled statement.
func (db *DB) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := db.read(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return db.r.QueryContext(ctx, query, args...)
}

// maxStmts bounds the writer's statement cache; queries beyond it run
// unprepared.
const maxStmts = 128

// SetLogger makes the store report to l what fails in the background: a
// checkpoint, the pruning of expired dedup keys. Until it is called, those
// reports are discarded.
func (db *DB) SetLogger(l *slog.Logger) { db.log.Store(l) }

// warn logs msg when a logger is set.
func (db *DB) warn(msg string, args ...any) {
	if l := db.log.Load(); l != nil {
		l.Warn(msg, args...)
	}
}

// SetCommitObserver makes the store call fn after every commit with its
// duration and the number of writes it carried (for metrics).
func (db *DB) SetCommitObserver(fn func(d time.Duration, n int)) { db.onCommit.Store(&fn) }

type op struct {
	ctx context.Context
	fn  func(ctx context.Context, tx *wtx) error
	// app, when set, is the Append that fn writes: the writer inserts
	// the appends of a batch together (appendAll), with one multi-row
	// INSERT per table, and calls fn only when it runs the ops one by one.
	app  *appendRow
	done chan error
}

// Open opens (creating if needed) the database file at path and brings its
// schema up to date (see Migrate; Migration says what was done). The directory must exist. The database and its -wal and -shm
// files are made readable by their owner only (0600).
func Open(ctx context.Context, path string) (*DB, error) {
	restrictFiles(path)
	if err := create(ctx, path); err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	dsn := dsn(path)
	w, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	mig, err := migrate(ctx, w, false)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	restrictFiles(path) // the -wal and -shm files exist now
	var wal *walFile
	if pipelinedSync {
		// Only the writer's connection commits without fsync; the WAL
		// is fsynced by the syncer before any caller is answered.
		if _, err := w.ExecContext(ctx, "PRAGMA synchronous=NORMAL"); err != nil {
			w.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		// SQLite names the WAL after the database's real path (a
		// symlink resolved), so ask it rather than guess.
		var file string
		if err := w.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&file); err != nil || file == "" {
			w.Close()
			return nil, fmt.Errorf("open %s: locating the database file: %v", path, err)
		}
		wal = &walFile{path: file + "-wal"}
	}
	r, err := sql.Open(driverName, dsn+"&_pragma=query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	// Checkpoints (copying the WAL into the database file, with two
	// fsyncs) run on a connection of their own, beside the writer, which
	// runs one itself only when the WAL has grown past 40 MiB (counted in
	// pages, of the file's own size).
	ck, err := sql.Open(driverName, dsn)
	if err == nil {
		ck.SetMaxOpenConns(1)
		_, err = w.ExecContext(ctx, "PRAGMA wal_autocheckpoint="+strconv.Itoa(autoCheckpointBytes/max(mig.PageSize, 512)))
	}
	if err == nil {
		_, err = w.ExecContext(ctx, "PRAGMA journal_size_limit=67108864")
	}
	if err != nil {
		w.Close()
		r.Close()
		if ck != nil {
			ck.Close()
		}
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := &DB{path: path, migration: mig, w: w, r: r, ck: ck, wal: wal, ops: make(chan *op), quit: make(chan struct{}), Now: time.Now,
		stmts: map[string]*sql.Stmt{}, misses: map[string]bool{}, inserts: map[insertKey]string{}, rstmts: map[string]*sql.Stmt{}, checkpoint: make(chan struct{}, 1)}
	db.wg.Add(3)
	go db.writer()
	go db.checkpointer()
	go db.pruner()
	return db, nil
}

// readConns is the size of the read pool: 8 on a 64-bit machine, 2 on a
// 32-bit one (a router), where each connection of ncruces/go-sqlite3
// reserves 32 MiB of the process's 2 GiB of address space (256 MiB on
// 64-bit) and its page cache (up to 2 MiB) counts against tens of MiB of
// RAM. With the writer and the checkpointer, that is 4 connections.
const readConns = 8 - 6*(32/strconv.IntSize)

// autoCheckpointBytes is the WAL's size past which the writer checkpoints
// by itself, when the checkpointer has fallen behind.
const autoCheckpointBytes = 40 << 20

// checkpointAfter is how many writes the writer commits between two
// checkpoints in a file of pageSize pages: about 1,000 pages of 4 KiB of
// WAL (SQLite's default) with 2 KiB bodies. A write's WAL grows with the
// page size (each page it changes is written whole), so a file of 16 KiB
// pages checkpoints four times as often and its WAL stays as small.
func checkpointAfter(pageSize int) int {
	return max(512*4096/max(pageSize, 512), 16)
}

// checkpointer copies the WAL into the database file when the writer asks,
// so that the copy and its fsyncs are not in the way of commits. It runs
// PASSIVE checkpoints: they never wait for the writer or readers.
func (db *DB) checkpointer() {
	defer db.wg.Done()
	for {
		select {
		case <-db.checkpoint:
		case <-db.quit:
			return
		}
		if _, err := db.ck.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
			db.warn("checkpoint failed; the WAL keeps growing until one succeeds", "err", err)
			continue
		}
		db.checkpoints.Add(1)
	}
}

// wrote counts n committed writes towards the next checkpoint.
func (db *DB) wrote(n int) {
	db.sinceCheckpoint += n
	if db.sinceCheckpoint < checkpointAfter(db.migration.PageSize) {
		return
	}
	db.sinceCheckpoint = 0
	select {
	case db.checkpoint <- struct{}{}:
	default: // one is running or asked for
	}
}

// Close stops the writer after the writes already handed to it and closes
// the database. Writes after Close return ErrClosed.
func (db *DB) Close() error {
	db.closed.Do(func() { close(db.quit) })
	db.wg.Wait()
	for _, st := range db.stmts {
		st.Close()
	}
	db.rmu.Lock()
	for _, st := range db.rstmts {
		st.Close()
	}
	db.rmu.Unlock()
	return errors.Join(db.r.Close(), db.ck.Close(), db.w.Close())
}

// write runs fn inside a transaction shared with other writers and returns
// once that transaction is committed (durable) or fn failed. fn's changes
// are rolled back on its own error without affecting the others.
func (db *DB) write(ctx context.Context, fn func(ctx context.Context, tx *wtx) error) error {
	return db.writeOp(ctx, &op{ctx: ctx, fn: fn})
}

// writeOp is write for an op made by the caller.
func (db *DB) writeOp(ctx context.Context, o *op) error {
	if err := db.failed.Load(); err != nil {
		return *err
	}
	o.done = make(chan error, 1)
	select {
	case db.ops <- o:
	case <-db.quit:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once handed over, the op will be committed or fail; wait for it even
	// if ctx ends, so that a caller never believes a committed write failed.
	return <-o.done
}

func (db *DB) writer() {
	defer db.wg.Done()
	var synced chan *committed
	if db.wal != nil {
		// Unbuffered: a committed batch waits here while the previous
		// one's fsync runs, and meanwhile the next batch grows, so that
		// one transaction carries it rather than several small ones.
		synced = make(chan *committed)
		db.wg.Add(1)
		go db.syncer(synced)
		defer close(synced)
	}
	for {
		batch := make([]*op, 0, 16)
		select {
		case o := <-db.ops:
			batch = append(batch, o)
		case <-db.quit:
			return
		}
	drain:
		for len(batch) < maxBatch {
			select {
			case o := <-db.ops:
				batch = append(batch, o)
			default:
				break drain
			}
		}
		if f := db.failed.Load(); f != nil {
			db.finish(&committed{batch: batch, errs: make([]error, len(batch)), err: *f}, nil)
			continue
		}
		c := db.commit(batch)
		db.prepareMisses()
		if c.err == nil {
			db.wrote(len(batch))
		}
		if synced == nil || c.err != nil {
			db.finish(c, nil)
			continue
		}
		// The batch is committed but perhaps not yet on disk: the
		// syncer answers its callers after the WAL's fsync, while this
		// goroutine runs the next batch.
		synced <- c
	}
}

// committed is a batch whose transaction ended: its ops' errors and the
// transaction's.
type committed struct {
	batch []*op
	errs  []error
	err   error
	start time.Time
}

// syncer makes committed batches durable, one fsync of the WAL for all the
// batches that are waiting, and answers their callers.
func (db *DB) syncer(in <-chan *committed) {
	defer db.wg.Done()
	defer db.wal.close()
	for c := range in {
		group := []*committed{c}
	more:
		for {
			select {
			case c, ok := <-in:
				if !ok {
					break more
				}
				group = append(group, c)
			default:
				break more
			}
		}
		var err error
		if f := db.failed.Load(); f != nil {
			err = *f
		} else if err = db.wal.sync(); err != nil {
			err = fmt.Errorf("sync: the WAL could not be written to disk (%w); "+
				"the store refuses writes until postbox is restarted", err)
			db.failed.Store(&err)
			if l := db.log.Load(); l != nil {
				l.Error("store failed", "err", err)
			}
		}
		for _, c := range group {
			db.finish(c, err)
		}
	}
}

// prepareMisses compiles the queries the last transaction ran unprepared,
// now that no transaction holds the writer's connection.
func (db *DB) prepareMisses() {
	for q := range db.misses {
		delete(db.misses, q)
		if len(db.stmts) >= maxStmts {
			continue
		}
		if st, err := db.w.PrepareContext(context.Background(), q); err == nil {
			db.stmts[q] = st
		}
	}
}

// commit runs a batch of ops in one transaction. Ops almost never fail, so
// they run plainly first; if one does, the transaction is rolled back and
// the batch runs again with a savepoint per op, so that only the failing
// op's writes are undone.
func (db *DB) commit(batch []*op) *committed {
	start := time.Now()
	errs, err := db.run(batch, len(batch) == 1)
	if err == nil && !anyErr(errs) || err != nil || len(batch) == 1 {
		return &committed{batch: batch, errs: errs, err: err, start: start}
	}
	errs, err = db.run(batch, true)
	return &committed{batch: batch, errs: errs, err: err, start: start}
}

func anyErr(errs []error) bool {
	for _, e := range errs {
		if e != nil {
			return true
		}
	}
	return false
}

// run executes batch in one transaction and commits it, with a savepoint
// per op when isolate is set; without, it rolls back at the first failing
// op. It returns each op's error and the transaction's.
func (db *DB) run(batch []*op, isolate bool) ([]error, error) {
	ctx := context.Background()
	errs := make([]error, len(batch))
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return errs, fmt.Errorf("begin: %w", err)
	}
	w := &wtx{tx: tx, db: db}
	group := !isolate && db.appendGroup(ctx, w, batch, errs)
	if !isolate && anyErr(errs) {
		_ = tx.Rollback()
		return errs, nil
	}
	for i, o := range batch {
		if group && o.app != nil {
			continue
		}
		if err := o.ctx.Err(); err != nil {
			// Its caller gave up before the op ran. Without savepoints
			// this ends the transaction, as any failing op does: were
			// the others committed, running the batch again with
			// savepoints (commit) would run their ops a second time.
			errs[i] = err
			if !isolate {
				_ = tx.Rollback()
				return errs, nil
			}
			continue
		}
		if isolate && len(batch) > 1 {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT op"); err != nil {
				_ = tx.Rollback()
				return errs, fmt.Errorf("savepoint: %w", err)
			}
		}
		errs[i] = o.fn(ctx, w)
		switch {
		case errs[i] != nil && !isolate:
			_ = tx.Rollback()
			return errs, nil
		case errs[i] != nil && len(batch) > 1:
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO op"); err != nil {
				_ = tx.Rollback()
				return errs, fmt.Errorf("rollback to savepoint: %w", err)
			}
		}
		if isolate && len(batch) > 1 {
			if _, err := tx.ExecContext(ctx, "RELEASE op"); err != nil {
				_ = tx.Rollback()
				return errs, fmt.Errorf("release savepoint: %w", err)
			}
		}
	}
	if len(batch) == 1 && errs[0] != nil {
		_ = tx.Rollback()
		return errs, nil
	}
	if err := tx.Commit(); err != nil {
		return errs, fmt.Errorf("commit: %w", err)
	}
	return errs, nil
}

// appendGroup writes the appends of batch with appendAll, when there are
// two or more, and says whether it did. Their error, if any, becomes each
// one's in errs (an append whose context ended has that error instead).
func (db *DB) appendGroup(ctx context.Context, w *wtx, batch []*op, errs []error) bool {
	var rows []*appendRow
	var at []int
	for i, o := range batch {
		if o.app == nil {
			continue
		}
		if err := o.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		rows, at = append(rows, o.app), append(at, i)
	}
	if len(rows) < 2 {
		return false
	}
	if err := appendAll(ctx, w, rows); err != nil {
		for _, i := range at {
			errs[i] = err
		}
	}
	return true
}

// finish tells each op of c how it went; a failed transaction or sync
// (syncErr) fails them all.
func (db *DB) finish(c *committed, syncErr error) {
	batch, errs, txErr := c.batch, c.errs, c.err
	if txErr == nil {
		txErr = syncErr
	}
	if txErr == nil {
		if fn := db.onCommit.Load(); fn != nil {
			(*fn)(time.Since(c.start), len(batch))
		}
	}
	for i, o := range batch {
		if txErr != nil && errs[i] == nil {
			errs[i] = txErr
		}
		o.done <- errs[i]
	}
}

// wtx is the writer's transaction, as the ops see it.
type wtx struct {
	tx *sql.Tx
	db *DB
}

// stmt returns query's compiled statement bound to the transaction, or nil
// (noting the query, to be compiled after the transaction).
func (w *wtx) stmt(ctx context.Context, query string) *sql.Stmt {
	if st, ok := w.db.stmts[query]; ok {
		return w.tx.StmtContext(ctx, st)
	}
	if len(w.db.stmts) < maxStmts {
		w.db.misses[query] = true
	}
	return nil
}

// ExecContext runs query in the transaction.
func (w *wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if st := w.stmt(ctx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return w.tx.ExecContext(ctx, query, args...)
}

// QueryContext runs query in the transaction.
func (w *wtx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := w.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return w.tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs query in the transaction.
func (w *wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := w.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return w.tx.QueryRowContext(ctx, query, args...)
}
