package prune

import (
	"errors"
	"testing"
	"time"
)

func TestBatchesStopsAtAShortBatch(t *testing.T) {
	deleted := []int64{Batch, Batch, 3, Batch}
	calls := 0
	total, err := Batches(func() (int64, error) { n := deleted[calls]; calls++; return n, nil })
	if err != nil || total != 2*Batch+3 || calls != 3 {
		t.Errorf("total %d, err %v after %d calls; want %d, nil after 3", total, err, calls, 2*Batch+3)
	}
}

func TestBatchesReturnsWhatWasDeletedBeforeAnError(t *testing.T) {
	boom := errors.New("disk full")
	calls := 0
	total, err := Batches(func() (int64, error) {
		calls++
		if calls == 2 {
			return 0, boom
		}
		return Batch, nil
	})
	if !errors.Is(err, boom) || total != Batch || calls != 2 {
		t.Errorf("total %d, err %v after %d calls; want %d, %v after 2", total, err, calls, Batch, boom)
	}
}

func TestRunPrunesBeforeNowLessSlackAndReportsFailures(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	befores := make(chan time.Time, 10)
	failures := make(chan error, 10)
	done := make(chan struct{})
	stopped := make(chan struct{})
	boom := errors.New("locked")
	go func() {
		Run(done, time.Millisecond, func() time.Time { return now },
			func(before time.Time) error { befores <- before; return boom },
			func(err error) { failures <- err })
		close(stopped)
	}()
	if before := <-befores; !before.Equal(now.Add(-Slack)) {
		t.Errorf("pruned before %v, want %v", before, now.Add(-Slack))
	}
	if err := <-failures; !errors.Is(err, boom) {
		t.Errorf("failure reported as %v", err)
	}
	close(done)
	<-stopped
}
