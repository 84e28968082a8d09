// Package prune is how both stores delete expired dedup keys in the
// background: Append already ignores an expired key, but without pruning
// the dedup table keeps one row per provider delivery id forever.
package prune

import "time"

const (
	// Every is how often a store prunes.
	Every = 10 * time.Minute
	// Batch is how many keys one delete removes at most, so that a large
	// backlog never holds a store's writes for long.
	Batch = 1000
	// Slack keeps a key a little past its expiry, so that a request
	// received just before the expiry (by any instance's clock) is still
	// compared with it.
	Slack = time.Minute
)

// Batches calls del, which deletes at most Batch keys, until a call deletes
// fewer, and returns how many were deleted in all: on an error, those
// deleted before it.
func Batches(del func() (int64, error)) (int64, error) {
	var total int64
	for {
		n, err := del()
		total += n
		if err != nil || n < Batch {
			return total, err
		}
	}
}

// Run calls prune with now() - Slack every every until done is closed,
// and hands its failures to failed.
func Run(done <-chan struct{}, every time.Duration, now func() time.Time, prune func(before time.Time) error, failed func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := prune(now().Add(-Slack)); err != nil {
				failed(err)
			}
		case <-done:
			return
		}
	}
}
