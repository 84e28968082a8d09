package queue_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postbox/postbox"
	"github.com/postbox/postbox/queue"
	"github.com/postbox/postbox/sqlite"
)

// unreachable is a store whose writes of attempts fail while down is set,
// as when the database cannot be reached for a moment: a fault the test
// switches on and off.
type unreachable struct {
	*sqlite.DB
	down     atomic.Bool
	failures atomic.Int64
}

func (u *unreachable) Advance(ctx context.Context, s postbox.Step) ([]*postbox.Job, []error, error) {
	if u.down.Load() && len(s.Done) > 0 {
		u.failures.Add(1)
		return nil, nil, errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")
	}
	return u.DB.Advance(ctx, s)
}

func TestAnAttemptTheStoreCouldNotRecordIsRecordedWhenItIsBack(t *testing.T) {
	db := openStore(t)
	store := &unreachable{DB: db}
	runs := filepath.Join(t.TempDir(), "runs")
	h := &postbox.Hook{ID: "h", Actions: []postbox.Action{shell(t, "echo ran >> "+runs, 10*time.Second)}}
	q := serveQueue(t, queue.Options{Store: store, Hooks: []*postbox.Hook{h}})
	store.down.Store(true)
	d := appendFor(t, db, q, h)
	// The attempt fails to record, at once and one by one, then again at
	// the following polls.
	eventually(t, "recording fails a few times", func() bool { return store.failures.Load() >= 6 })
	store.down.Store(false)
	got := waitState(t, db, d.ID, postbox.StateDone)
	if len(got.Attempts) != 1 || got.Attempts[0].Outcome != postbox.OutcomeOK {
		t.Errorf("attempts %+v, want the one that ran, recorded once the store was back", got.Attempts)
	}
	if b, _ := os.ReadFile(runs); string(b) != "ran\n" {
		t.Errorf("the action ran %q, want once", b)
	}
}
