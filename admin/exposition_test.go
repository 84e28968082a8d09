package admin_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/postbox/postbox"
)

// parseMetrics parses an exposition with Prometheus's own text parser, as
// a Prometheus server scraping postbox would. Names must be valid under
// the classic rules: a UTF-8 name would need quoting that older servers
// do not read.
func parseMetrics(t *testing.T, text []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("Prometheus's parser refuses /metrics: %v\n%s", err, text)
	}
	return fams
}

// labelNames are the label names of a family's series.
func labelNames(f *dto.MetricFamily) map[string]bool {
	names := map[string]bool{}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			names[l.GetName()] = true
		}
	}
	return names
}

// dashboardQuery is one PromQL expression of deploy/grafana-dashboard.json.
type dashboardQuery struct{ panel, expr string }

func dashboardQueries(t *testing.T) []dashboardQuery {
	t.Helper()
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
	var qs []dashboardQuery
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			qs = append(qs, dashboardQuery{p.Title, target.Expr})
		}
	}
	if len(qs) < 20 {
		t.Fatalf("read only %d queries from the dashboard", len(qs))
	}
	return qs
}

var (
	promSeries   = regexp.MustCompile(`\b(?:postbox|go|process)_[a-z_]+`)
	promMatcher  = regexp.MustCompile(`([a-z_]+)\s*(?:=~|!~|!=|=)\s*"`)
	promGrouping = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// TestDashboardSeriesHaveTheirTypesAndLabels reads every query of the
// Grafana dashboard and checks, on /metrics as Prometheus's parser reads
// it, that each series it names is exposed with the type the query needs
// (histogram for _bucket, _sum and _count; counter for _total; gauge
// otherwise) and carries every label the query selects or groups by.
func TestDashboardSeriesHaveTheirTypesAndLabels(t *testing.T) {
	fams := parseMetrics(t, []byte(exposition(t, newFixture(t, withQueue))))
	checked := 0
	for _, q := range dashboardQueries(t) {
		var labels []string
		for _, m := range promMatcher.FindAllStringSubmatch(q.expr, -1) {
			labels = append(labels, m[1])
		}
		for _, m := range promGrouping.FindAllStringSubmatch(q.expr, -1) {
			for l := range strings.SplitSeq(m[1], ",") {
				labels = append(labels, strings.TrimSpace(l))
			}
		}
		for _, name := range promSeries.FindAllString(q.expr, -1) {
			family, want := name, dto.MetricType_GAUGE
			switch {
			case strings.HasSuffix(name, "_bucket"), strings.HasSuffix(name, "_sum"), strings.HasSuffix(name, "_count"):
				family, want = name[:strings.LastIndexByte(name, '_')], dto.MetricType_HISTOGRAM
			case strings.HasSuffix(name, "_total"):
				want = dto.MetricType_COUNTER
			}
			f := fams[family]
			if f == nil {
				t.Errorf("panel %q queries %s, but /metrics has no family %s", q.panel, name, family)
				continue
			}
			if f.GetType() != want {
				t.Errorf("panel %q queries %s as a %s; /metrics has %s as a %s", q.panel, name, want, family, f.GetType())
			}
			have := labelNames(f)
			for _, l := range labels {
				switch {
				case l == "job": // added by Prometheus
				case l == "le" && f.GetType() == dto.MetricType_HISTOGRAM && strings.HasSuffix(name, "_bucket"):
				case !have[l]:
					t.Errorf("panel %q uses label %q of %s, which has only %v", q.panel, l, name, slices.Sorted(maps.Keys(have)))
				}
			}
			checked++
		}
	}
	if checked < 30 {
		t.Errorf("checked only %d series of the dashboard", checked)
	}
}

// TestMetricsParseGzipped checks the gzipped answer a Prometheus server
// asks for: it parses, and holds the same families as the plain one.
func TestMetricsParseGzipped(t *testing.T) {
	f := newFixture(t, withQueue)
	plain := parseMetrics(t, []byte(exposition(t, f)))
	req, err := http.NewRequest("GET", f.ts.URL+"/metrics", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err := f.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("Content-Encoding %q, want gzip", res.Header.Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	text, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	gz := parseMetrics(t, text)
	for name := range plain {
		if gz[name] == nil {
			t.Errorf("the gzipped answer lacks %s", name)
		}
	}
}

// TestMetricsEscapeLabelValues puts a quote, a backslash, a newline and an
// invalid byte into label values of every kind of series: a counter and a
// histogram updated by requests, the destination of an attempt, and the
// hook of stored deliveries read at scrape time. Prometheus's parser must
// read each value back as it was (the invalid byte as U+FFFD), and no
// value may break a line or end its quotes early.
func TestMetricsEscapeLabelValues(t *testing.T) {
	const nasty = "a\"b\\c\nd} 1\n# e"
	f := newFixture(t)
	f.add(nasty, 1, time.Now(), `{}`)
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: nasty, Status: 401, Duration: time.Millisecond})
	f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "bad\xffbyte", Status: 200, Delivery: "x"})
	f.srv.Attempt(postbox.AttemptEvent{Hook: nasty, Destination: "exec:/bin/" + nasty,
		Attempt: postbox.Attempt{Kind: "exec", Outcome: postbox.OutcomeOK}})
	_, body := f.do("GET", "/metrics", "")
	fams := parseMetrics(t, body)

	want := []struct{ family, label, value string }{
		{"postbox_requests_total", "hook", nasty},
		{"postbox_requests_total", "hook", "bad\uFFFDbyte"},
		{"postbox_request_duration_seconds", "hook", nasty},
		{"postbox_rejections_total", "hook", nasty},
		{"postbox_attempts_total", "hook", nasty},
		{"postbox_destination_attempts_total", "destination", "exec:/bin/" + nasty},
		{"postbox_deliveries", "hook", nasty},
		{"postbox_queue_depth", "hook", nasty},
	}
	for _, w := range want {
		var seen []string
		for _, m := range fams[w.family].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == w.label {
					seen = append(seen, l.GetValue())
				}
			}
		}
		if !slices.Contains(seen, w.value) {
			t.Errorf("%s{%s}: values %q, want %q among them", w.family, w.label, seen, w.value)
		}
	}
	for name := range fams {
		if !strings.HasPrefix(name, "postbox_") && !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "process_") {
			t.Errorf("a label value became a series of its own: %s", name)
		}
	}
}

// TestRequestDetailsNeverBecomeLabels sends requests that differ in
// everything a client chooses (path, method, remote address, the reason
// they were refused) and checks that the request families gain no series:
// only the hook (a configured id, or "" when none matched), the status and
// the reason class label them.
func TestRequestDetailsNeverBecomeLabels(t *testing.T) {
	f := newFixture(t)
	for i := range 200 {
		junk := fmt.Sprintf("/x%d\"\n{%d}", i, i)
		f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "", Status: 404, Method: "M" + junk, Path: junk,
			Remote: junk, Reason: "no hook for " + junk, Bytes: i})
		f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: "lamp", Status: 401, Method: "POST", Path: "/post",
			Remote: junk, Reason: "token mismatch " + junk})
	}
	_, body := f.do("GET", "/metrics", "")
	if bytes.Contains(body, []byte("/x1")) {
		t.Error("a request's path, method, remote or reason reached /metrics")
	}
	fams := parseMetrics(t, body)
	for family, want := range map[string]int{
		"postbox_requests_total":           2, // {"", 404}, {lamp, 401}
		"postbox_rejections_total":         2, // {"", not_found}, {lamp, auth}
		"postbox_request_duration_seconds": 2, // "" and lamp
	} {
		if got := len(fams[family].GetMetric()); got != want {
			t.Errorf("%s has %d series after 400 requests to 2 hooks, want %d", family, got, want)
		}
	}
}

// TestMetricsCountEveryRequestWhileScraped counts requests from several
// goroutines, each new series created while others use it and while
// /metrics is read, and checks that no count is lost.
func TestMetricsCountEveryRequestWhileScraped(t *testing.T) {
	f := newFixture(t)
	const workers, each = 8, 200
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				hook := fmt.Sprintf("hook%d", (w+i)%5)
				f.srv.Request(postbox.RequestEvent{Time: f.now, Hook: hook, Status: 200 + i%3, Delivery: "x"})
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			f.do("GET", "/metrics", "")
		}
	})
	wg.Wait()
	_, body := f.do("GET", "/metrics", "")
	total := 0.0
	for _, m := range parseMetrics(t, body)["postbox_requests_total"].GetMetric() {
		total += m.GetCounter().GetValue()
	}
	if total != workers*each {
		t.Errorf("postbox_requests_total sums to %v, want %d", total, workers*each)
	}
}
