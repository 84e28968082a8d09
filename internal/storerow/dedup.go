package storerow

import "time"

// DedupKey is one entry of a store's dedup table: the first delivery seen
// with Key for Hook, remembered until Expires. postbox store copy moves
// them, so that a copied installation still drops repeats.
type DedupKey struct {
	Hook     string
	Key      string
	Delivery string
	Expires  time.Time
}
