package postbox_test

import (
	"testing"
	"time"

	"github.com/postbox/postbox"
)

func TestIDsSortInTheOrderTheyWereMade(t *testing.T) {
	var g postbox.IDGen
	now := time.Now()
	prev := ""
	seen := map[string]bool{}
	for i := 0; i < 10000; i++ {
		// Many ids per millisecond, and a clock that steps back.
		at := now.Add(time.Duration(i/100) * time.Millisecond)
		if i == 5000 {
			at = now
		}
		id := g.New(at)
		if len(id) != 26 {
			t.Fatalf("id %q has %d characters, want 26", id, len(id))
		}
		if id <= prev {
			t.Fatalf("id %d %s does not sort after %s", i, id, prev)
		}
		if seen[id] {
			t.Fatalf("id %s made twice", id)
		}
		seen[id], prev = true, id
	}
}
