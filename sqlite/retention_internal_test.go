package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox/internal/prune"
)

// TestPrunePlansUseIndexes checks that every delete retention makes seeks
// an index rather than reading the whole table: a prune of a large store
// must cost in proportion to what it removes.
func TestPrunePlansUseIndexes(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "postbox.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	cuts := map[string]prune.Cut{
		"max_age":        {Hook: "a", State: "done", Received: time.Now()},
		"max_deliveries": {Hook: "a", Before: "01K"},
		"max_size":       {},
	}
	for name, c := range cuts {
		where, order, args := cutWhere(c)
		q := `EXPLAIN QUERY PLAN SELECT id FROM deliveries WHERE ` + where + ` ORDER BY ` + order + ` LIMIT 500`
		rows, err := db.r.QueryContext(ctx, q, args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		got := strings.Join(plan, "; ")
		if strings.Contains(got, "SCAN deliveries") && !strings.Contains(got, "USING INDEX") || strings.Contains(got, "TEMP B-TREE") {
			t.Errorf("%s: the delete's plan reads the table or sorts: %s", name, got)
		}
		t.Logf("%s: %s", name, got)
	}
	// The hooks are listed by seeks, not by reading every delivery.
	rows, err := db.r.QueryContext(ctx, `EXPLAIN QUERY PLAN `+storedHooksSQL)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, parent, unused int
		var detail string
		rows.Scan(&id, &parent, &unused, &detail)
		if strings.HasPrefix(detail, "SCAN deliveries") && !strings.Contains(detail, "COVERING INDEX") {
			t.Errorf("listing the stored hooks reads the table: %s", detail)
		}
	}
}
