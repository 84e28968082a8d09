package prune

import (
	"context"
	"time"
)

// Stats is what a store holds and how fast it grows, for postbox store
// stats, the admin API and metrics.
type Stats struct {
	Size             // bytes on disk (PostgreSQL: Used is the tables and indexes)
	Rows   int64     `json:"rows"` // deliveries
	Oldest time.Time `json:"oldest,omitzero"`
	Newest time.Time `json:"newest,omitzero"`
	// Last24h counts the deliveries received in the 24 hours before the
	// time the stats were read at.
	Last24h int64       `json:"last_24h"`
	Hooks   []HookBytes `json:"hooks"`
}

// HookBytes is one hook's share of a store: its deliveries and the bytes
// of what they carry (body, header, query, path).
type HookBytes struct {
	Hook  string `json:"hook"`
	Rows  int64  `json:"rows"`
	Bytes int64  `json:"bytes"`
}

// Statser is a store that can describe itself. StoreStats reads every
// delivery's length (bytes per hook): it is for a person asking, not for
// every scrape.
type Statser interface {
	StoreStats(ctx context.Context, now time.Time) (Stats, error)
}

// Outlook is Stats judged against a Retention: how fast the store grows
// and when it reaches max_size.
type Outlook struct {
	Stats
	Retention struct {
		MaxSize int64 `json:"max_size,omitempty"`
	} `json:"retention"`
	// PerDay is the bytes a day adds at the last 24 hours' rate, at the
	// store's average bytes per delivery.
	PerDay int64 `json:"per_day"`
	// FullIn is how long until Used reaches max_size at that rate, before
	// pruning by age or count; 0 when there is no max_size or no growth,
	// negative when over.
	FullIn time.Duration `json:"full_in_ns,omitempty"`
}

// Outlook judges s against r.
func (s Stats) Outlook(r Retention) Outlook {
	o := Outlook{Stats: s}
	o.Retention.MaxSize = r.MaxSize
	if s.Rows > 0 {
		o.PerDay = s.Last24h * (s.Used / s.Rows)
	}
	if r.MaxSize > 0 && o.PerDay > 0 {
		o.FullIn = time.Duration(float64(r.MaxSize-s.Used) / float64(o.PerDay) * float64(24*time.Hour))
	}
	return o
}
