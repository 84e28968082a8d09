package admin_test

import (
	"cmp"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postbox/postbox"
)

// exposition is the /metrics answer after one of everything: a stored
// delivery (a commit), accepted and refused requests, a dead attempt.
func exposition(t *testing.T, f *fixture) string {
	t.Helper()
	d := f.add("lamp", 1, time.Now(), `{}`)
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "lamp", Status: 200, Delivery: d.ID, Duration: time.Millisecond})
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "lamp", Status: 401, Reason: "x"})
	f.srv.Attempt(postbox.AttemptEvent{Hook: "lamp", Next: postbox.StateDead, Destination: "exec:/bin/lamp", Received: time.Now(),
		Attempt: postbox.Attempt{Kind: "exec", Outcome: postbox.OutcomeTimeout, Duration: 2 * time.Second, N: 1, Started: time.Now()}})
	status, body := f.do("GET", "/metrics", "")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	return string(body)
}

// TestMetricsKeepTheirNamesHelpAndTypes pins the # HELP and # TYPE of every
// postbox_ family (in the order of their names: the exposition itself need
// not sort them): a dashboard or an alert written against one release
// keeps working with the next.
func TestMetricsKeepTheirNamesHelpAndTypes(t *testing.T) {
	want := `
# HELP postbox_action_duration_seconds Duration of one attempt at an action, by action kind.
# TYPE postbox_action_duration_seconds histogram
# HELP postbox_attempts_total Attempts at actions, by hook, action kind and outcome (ok, failed, timeout, error).
# TYPE postbox_attempts_total counter
# HELP postbox_dead_deliveries Stored deliveries whose action failed its last retry, by hook.
# TYPE postbox_dead_deliveries gauge
# HELP postbox_deliveries Stored deliveries, by hook and state.
# TYPE postbox_deliveries gauge
# HELP postbox_deliveries_dead_total Deliveries that became dead (an action failed its last retry) since the process started, by hook.
# TYPE postbox_deliveries_dead_total counter
# HELP postbox_delivery_done_lag_seconds Time from a delivery's receipt to the end of its last action's successful attempt.
# TYPE postbox_delivery_done_lag_seconds histogram
# HELP postbox_delivery_first_attempt_lag_seconds Time from a delivery's receipt to the start of its first attempt.
# TYPE postbox_delivery_first_attempt_lag_seconds histogram
# HELP postbox_destination_attempts_total Attempts at actions, by destination (scheme://host:port, broker, exec:command) and outcome.
# TYPE postbox_destination_attempts_total counter
# HELP postbox_destination_in_flight Calls under way to each destination.
# TYPE postbox_destination_in_flight gauge
# HELP postbox_destination_state 1 for each destination's breaker state (closed, open, half-open, paused).
# TYPE postbox_destination_state gauge
# HELP postbox_fenced_total Writes of this instance that the store refused because another claim held the job: renewals, and results recorded too late.
# TYPE postbox_fenced_total counter
# HELP postbox_held_jobs Jobs each instance that is not stopped holds (leases not run out), by instance id.
# TYPE postbox_held_jobs gauge
# HELP postbox_instances Instances registered in the store, by state (silent: no heartbeat for 30 s).
# TYPE postbox_instances gauge
# HELP postbox_live_events_dropped_total Live-feed events dropped because a subscriber was behind.
# TYPE postbox_live_events_dropped_total counter
# HELP postbox_live_subscribers Open live-feed (SSE) streams.
# TYPE postbox_live_subscribers gauge
# HELP postbox_queue_depth Deliveries whose actions have not finished (state pending), by hook.
# TYPE postbox_queue_depth gauge
# HELP postbox_queue_jobs Jobs with work left, by state: due (waiting for a worker), claimed (running or about to), all (with retries not yet due).
# TYPE postbox_queue_jobs gauge
# HELP postbox_queue_oldest_due_seconds Age of the job that has waited longest for a worker since it became due (0 when none waits).
# TYPE postbox_queue_oldest_due_seconds gauge
# HELP postbox_rejections_total Requests refused, by hook and reason class (auth, method, too_large, bad_request, not_found, unavailable, ...).
# TYPE postbox_rejections_total counter
# HELP postbox_request_duration_seconds Time from the start of a hook request to its answer, by hook.
# TYPE postbox_request_duration_seconds histogram
# HELP postbox_requests_total Requests to hooks answered, by hook and HTTP status (hook is empty when none matched).
# TYPE postbox_requests_total counter
# HELP postbox_stats_scrape_errors_total Scrapes that could not read the store's counts.
# TYPE postbox_stats_scrape_errors_total counter
# HELP postbox_store_commit_batch_size Writes carried by one store commit.
# TYPE postbox_store_commit_batch_size histogram
# HELP postbox_store_commit_duration_seconds Duration of one store commit (a group of writes sharing one fsync).
# TYPE postbox_store_commit_duration_seconds histogram
`
	var got []string
	for _, line := range strings.Split(exposition(t, newFixture(t, withQueue)), "\n") {
		if strings.HasPrefix(line, "# HELP postbox_") || strings.HasPrefix(line, "# TYPE postbox_") {
			got = append(got, line)
		}
	}
	// By family name, # HELP before # TYPE.
	slices.SortStableFunc(got, func(a, b string) int {
		fa, fb := strings.Fields(a), strings.Fields(b)
		return cmp.Or(cmp.Compare(fa[2], fb[2]), cmp.Compare(fa[1], fb[1]))
	})
	if g, w := strings.Join(got, "\n"), strings.TrimSpace(want); g != w {
		t.Errorf("/metrics families:\n%s\nwant:\n%s", g, w)
	}
}

// TestMetricsKeepTheirBuckets pins the bucket layout of every histogram:
// a changed bound breaks every histogram_quantile over a range that spans
// the change.
func TestMetricsKeepTheirBuckets(t *testing.T) {
	want := map[string]string{
		"postbox_request_duration_seconds":           "0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 +Inf",
		"postbox_action_duration_seconds":            "0.001 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 300 +Inf",
		"postbox_store_commit_duration_seconds":      "0.00025 0.0005 0.001 0.002 0.004 0.008 0.016 0.032 0.064 0.128 0.256 0.512 1.024 2.048 +Inf",
		"postbox_store_commit_batch_size":            "1 2 4 8 16 32 64 128 256 +Inf",
		"postbox_delivery_first_attempt_lag_seconds": "0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 300 900 3600 +Inf",
		"postbox_delivery_done_lag_seconds":          "0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 30 60 300 900 3600 +Inf",
	}
	bucket := regexp.MustCompile(`^(postbox_[a-z_]+)_bucket\{(?:[a-z]+="[^"]*",)*le="([^"]+)"\} \d+$`)
	got := map[string][]string{}
	for _, line := range strings.Split(exposition(t, newFixture(t, withQueue)), "\n") {
		m := bucket.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		// One layout per series: the key is the name and the line up to le.
		key := m[1] + "|" + line[:strings.LastIndex(line, "le=")]
		if !slices.Contains(got[key], m[2]) {
			got[key] = append(got[key], m[2])
		}
	}
	for key, les := range got {
		name, _, _ := strings.Cut(key, "|")
		if w, ok := want[name]; !ok {
			t.Errorf("histogram %s is not pinned here", name)
		} else if g := strings.Join(les, " "); g != w {
			t.Errorf("%s buckets %s, want %s", key, g, w)
		}
	}
	for name := range want {
		found := false
		for key := range got {
			found = found || strings.HasPrefix(key, name+"|")
		}
		if !found {
			t.Errorf("/metrics has no buckets of %s", name)
		}
	}
}

func TestMetricsContentType(t *testing.T) {
	f := newFixture(t)
	req, err := http.NewRequest("GET", f.ts.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	res, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if got := res.Header.Get("Content-Type"); got != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
}

// TestMetricsWhenTheStoreFails checks that a scrape the store cannot answer
// still serves the rest, counts the failure, and leaves the store's gauges
// out instead of reporting every hook at 0.
func TestMetricsWhenTheStoreFails(t *testing.T) {
	f := newFixture(t)
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "lamp", Status: 200, Delivery: "x"})
	if err := f.db.Close(); err != nil {
		t.Fatal(err)
	}
	status, body := f.do("GET", "/metrics", "")
	if status != http.StatusOK {
		t.Fatalf("/metrics: %d %s", status, body)
	}
	text := string(body)
	for _, want := range []string{"postbox_stats_scrape_errors_total 1\n", `postbox_requests_total{hook="lamp",status="200"} 1` + "\n", "go_goroutines "} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, name := range []string{"postbox_deliveries", "postbox_queue_depth", "postbox_dead_deliveries"} {
		if strings.Contains(text, "\n"+name+"{") {
			t.Errorf("/metrics has %s although the store could not be read", name)
		}
	}
}
