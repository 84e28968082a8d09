package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/postbox/postbox"
	"github.com/postbox/postbox/storetest"
)

// BenchmarkAppend measures durable appends (each committed with
// synchronous_commit on) from one caller and from 64 callers at once, as
// the HTTP layer makes them under load. actions=1 also inserts the job and
// notifies; actions=0 stores the delivery alone. conns is the pool size
// (pool_max_conns). notify=after is Append as it is (NOTIFY after the
// commit, folded); notify=in-tx sends NOTIFY inside each append's own
// transaction, for comparison.
func BenchmarkAppend(b *testing.B) {
	appends := map[string]func(context.Context, *DB, *postbox.Delivery) error{
		"after": func(ctx context.Context, db *DB, d *postbox.Delivery) error { return db.Append(ctx, d) },
		"in-tx": appendNotifyInTx,
	}
	for _, notify := range []string{"after", "in-tx"} {
		b.Run("single/actions=1/notify="+notify, func(b *testing.B) {
			db := openDB(b, freshSchema(b))
			b.ReportAllocs()
			for b.Loop() {
				if err := appends[notify](context.Background(), db, storetest.NewDelivery("bench", 1)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for _, c := range []struct {
		actions, conns int
		notify         string
	}{
		{1, 4, "after"}, {1, 16, "after"}, {1, 64, "after"},
		{1, 16, "in-tx"}, {1, 64, "in-tx"},
		{0, 16, "after"}, {0, 64, "after"},
	} {
		b.Run(fmt.Sprintf("parallel64/actions=%d/conns=%d/notify=%s", c.actions, c.conns, c.notify), func(b *testing.B) {
			db := openDB(b, freshSchema(b, "pool_max_conns", fmt.Sprint(c.conns)))
			b.ReportAllocs()
			b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := appends[c.notify](context.Background(), db, storetest.NewDelivery("bench", c.actions)); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkAppendGroupCommit measures the design not built: one writer
// goroutine that commits the appends waiting for it in one transaction
// (as the SQLite store does), with one NOTIFY per transaction.
func BenchmarkAppendGroupCommit(b *testing.B) {
	db := openDB(b, freshSchema(b))
	type req struct {
		d    *postbox.Delivery
		done chan error
	}
	reqs := make(chan req)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			var batch []req
			select {
			case r := <-reqs:
				batch = append(batch, r)
			case <-stop:
				return
			}
		more:
			for len(batch) < 256 {
				select {
				case r := <-reqs:
					batch = append(batch, r)
				default:
					break more
				}
			}
			pb := &pgx.Batch{}
			for _, r := range batch {
				queueAppend(pb, r.d)
			}
			pb.Queue(notifySQL)
			err := db.send(context.Background(), pb)
			for _, r := range batch {
				r.done <- err
			}
		}
	}()
	defer func() { close(stop); wg.Wait() }()
	b.ReportAllocs()
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		done := make(chan error, 1)
		for pb.Next() {
			reqs <- req{storetest.NewDelivery("bench", 1), done}
			if err := <-done; err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// appendNotifyInTx stores d as Append does but sends NOTIFY inside the
// same transaction.
func appendNotifyInTx(ctx context.Context, db *DB, d *postbox.Delivery) error {
	b := &pgx.Batch{}
	queueAppend(b, d)
	if d.Actions > 0 {
		b.Queue(notifySQL)
	}
	return db.send(ctx, b)
}

// queueAppend queues the statement that Append sends for d (no dedup key,
// no hold).
func queueAppend(b *pgx.Batch, d *postbox.Delivery) {
	header, _ := json.Marshal(d.Header)
	pathValues, _ := json.Marshal(d.PathValues)
	state := postbox.StatePending
	if d.Actions == 0 {
		state = postbox.StateDone
	}
	b.Queue(appendSQL, d.ID, d.HookID, d.Method, []byte(d.Path), d.Query.Encode(), string(header), d.Body,
		d.RemoteAddr, d.Received.UnixNano(), string(pathValues), d.Actions, []byte(d.Key), string(state),
		[]byte(d.DedupKey), int64(0))
}
