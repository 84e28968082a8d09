package postbox

import (
	"context"
	"time"
)

// Relayer is a Store that lists deliveries in the order they became
// durable, each with a cursor, for the relay feed (postbox listen): a
// listener that comes back with the cursor of the last delivery it
// forwarded gets every delivery after it exactly once, however appends
// from several requests (or instances) interleave their commits. Ids and
// receive times are not such an order: a delivery whose commit lands late
// may carry an earlier id than one already listed.
type Relayer interface {
	// RelayHead returns the cursor of the newest delivery whose place in
	// the order is final: RelayAfter with it lists only deliveries made
	// durable later. An empty store's head lists every delivery.
	RelayHead(ctx context.Context) (string, error)
	// RelayAfter lists up to f.Limit deliveries after f.After in the
	// relay order, with their bodies but not their attempts. A cursor
	// the store did not make is an EINVALID error.
	RelayAfter(ctx context.Context, f RelayFilter) ([]Relayed, error)
	// RecordRelay notes that the listener named listener was sent the
	// delivery id at at; a later call for the same pair moves the time.
	// Delivery lists the notes in Delivery.Relays. An unknown id is not
	// an error: the delivery may have been pruned since.
	RecordRelay(ctx context.Context, id, listener string, at time.Time) error
}

// RelayFilter narrows Relayer.RelayAfter. The zero value lists the first
// 100 deliveries of every hook.
type RelayFilter struct {
	After string    // only deliveries after this cursor, when not empty
	Hooks []string  // only these hooks, when not empty
	Since time.Time // only deliveries received at or after, when not zero
	Limit int       // at most this many; 0 means 100
}

// Relayed is one delivery of the relay order and its cursor.
type Relayed struct {
	Cursor   string
	Delivery *Delivery
}

// Relay is a listener that a delivery was relayed to (Relayer.RecordRelay).
type Relay struct {
	Listener string    `json:"listener"`
	At       time.Time `json:"at"`
}
