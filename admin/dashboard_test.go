package admin_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

// TestDashboardUsesExposedMetrics checks that every postbox_ series that
// deploy/grafana-dashboard.json queries is one /metrics exposes, and that
// the dashboard shows each of them.
func TestDashboardUsesExposedMetrics(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}

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
	series := regexp.MustCompile(`\b(postbox|go|process)_[a-z_]+`)
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			for _, name := range series.FindAllString(target.Expr, -1) {
				used[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_sum"), "_count")] = true
				if !exposed[name] {
					t.Errorf("panel %q queries %s, which /metrics does not expose", p.Title, name)
				}
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
