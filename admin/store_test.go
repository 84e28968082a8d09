package admin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox/internal/prune"
)

func TestStoreAPI(t *testing.T) {
	f := newFixture(t)
	f.add("lamp", 0, f.now.Add(-48*time.Hour), `{"old":true}`)
	f.add("lamp", 0, f.now.Add(-time.Hour), strings.Repeat("x", 1000))
	f.add("gh", 0, f.now.Add(-time.Minute), `{}`)
	ret := prune.Retention{Default: prune.Policy{MaxAge: 30 * 24 * time.Hour}, MaxSize: 1 << 30}
	f.srv.SetRetention(func() prune.Retention { return ret })

	var v struct {
		Rows    int64     `json:"rows"`
		Used    int64     `json:"used"`
		Oldest  time.Time `json:"oldest"`
		Last24h int64     `json:"last_24h"`
		PerDay  int64     `json:"per_day"`
		FullIn  int64     `json:"full_in_ns"`
		Hooks   []struct {
			Hook  string `json:"hook"`
			Rows  int64  `json:"rows"`
			Bytes int64  `json:"bytes"`
		} `json:"hooks"`
		Retention struct {
			MaxSize int64 `json:"max_size"`
		} `json:"retention"`
		Policy struct {
			Default struct {
				MaxAge int64 `json:"MaxAge"`
			} `json:"default"`
		} `json:"policy"`
	}
	f.getJSON("/api/store", &v)
	if v.Rows != 3 || v.Last24h != 2 || !v.Oldest.Equal(f.now.Add(-48*time.Hour)) || v.Used <= 0 {
		t.Errorf("GET /api/store = %+v", v)
	}
	if len(v.Hooks) != 2 || v.Hooks[0].Hook != "gh" || v.Hooks[1].Hook != "lamp" || v.Hooks[1].Bytes < 1000 {
		t.Errorf("bytes per hook = %+v", v.Hooks)
	}
	if v.Retention.MaxSize != 1<<30 || v.PerDay <= 0 || v.FullIn <= 0 || v.Policy.Default.MaxAge != int64(ret.Default.MaxAge) {
		t.Errorf("outlook: max size %d, per day %d, full in %d, policy %+v", v.Retention.MaxSize, v.PerDay, v.FullIn, v.Policy)
	}
}

func TestStoreMetrics(t *testing.T) {
	f := newFixture(t)
	f.add("lamp", 0, f.now, "{}")
	f.srv.SetRetention(func() prune.Retention { return prune.Retention{MaxSize: 2 << 20} })
	f.srv.ObservePrune(prune.Report{Removed: []prune.Removed{{Hook: "lamp", Rule: prune.RuleAge, N: 7}, {Rule: prune.RuleSize, N: 3}}, Duration: 20 * time.Millisecond})
	_, body := f.do("GET", "/metrics", "")
	for _, want := range []string{
		`postbox_store_pruned_total{rule="max_age"} 7`,
		`postbox_store_pruned_total{rule="max_size"} 3`,
		`postbox_store_prune_duration_seconds_count 1`,
		`postbox_store_max_size_bytes 2097152`,
		`postbox_store_rows 1`,
		`postbox_store_size_bytes `,
		`postbox_store_free_bytes `,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
