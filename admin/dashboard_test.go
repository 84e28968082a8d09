package admin_test

import (
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

// TestDashboardUsesExposedMetrics checks that every postbox_ series that
// deploy/grafana-dashboard.json queries is one /metrics exposes, and that
// the dashboard shows each of them.
func TestDashboardUsesExposedMetrics(t *testing.T) {
	f := newFixture(t, withQueue)
	f.add("lamp", 1, time.Now(), `{}`)
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "lamp", Status: 401})
	f.srv.Attempt(postbox.AttemptEvent{Hook: "lamp", Next: postbox.StateDead, Destination: "exec:/bin/lamp",
		Attempt: postbox.Attempt{Kind: "exec", Outcome: postbox.OutcomeError}})
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "lamp", Status: 200, Delivery: "x"})
	_, body := f.do("GET", "/metrics", "")
	exposed := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if name, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, kind, _ := strings.Cut(name, " ")
			exposed[name] = true
			if kind == "histogram" {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					exposed[name+suffix] = true
				}
			}
		}
	}

	used := map[string]bool{}
	for _, q := range dashboardQueries(t) {
		for _, name := range promSeries.FindAllString(q.expr, -1) {
			used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
			if !exposed[name] {
				t.Errorf("panel %q queries %s, which /metrics does not expose", q.panel, name)
			}
		}
	}
	for name := range exposed {
		if strings.HasPrefix(name, "postbox_") && !strings.HasSuffix(name, "_bucket") && !strings.HasSuffix(name, "_sum") &&
			!strings.HasSuffix(name, "_count") && name != "postbox_stats_scrape_errors_total" && !used[name] {
			t.Errorf("the dashboard shows no panel for %s", name)
		}
	}
}
