package e2e

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metricsConfig has a hook with a path wildcard, a hook with a token and
// nothing else: every other path is unknown.
const metricsConfig = `
listen: 127.0.0.1:0
admin: 127.0.0.1:0
data: ./data
hooks:
  - id: lamp
    path: /post
    auth:
      token: {header: X-Token, secret: lamp-secret-token}
  - id: hello
    path: /hello/{name}
    methods: [GET]
`

// TestMetricsOfTheBinary scrapes the built binary's /metrics after
// requests a stranger chooses: unknown paths, values for a path
// wildcard, wrong methods and tokens, odd headers. Prometheus's own
// parser must read the answer (the Go runtime's and the process's series
// included), and none of what the requests carried may create a series:
// the hook label is a configured id or "" and nothing else.
func TestMetricsOfTheBinary(t *testing.T) {
	t.Parallel()
	s := startServer(t, metricsConfig)
	ready := s.waitLog("the admin listener", func(r record) bool { return r["msg"] == "admin ready" })
	admin := "http://" + ready["addr"].(string)

	for i := range 40 {
		junk := fmt.Sprintf("zq%dj", i)
		for _, r := range []request{
			{method: "POST", path: "/" + junk, body: "{}"},
			{method: "GET", path: "/hooks/" + junk},
			{method: "GET", path: "/hello/" + junk},
			{method: "DELETE", path: "/hello/" + junk},
			{method: "POST", path: "/post?" + junk + "=1", header: map[string]string{"X-Token": junk, "X-" + junk: junk}, body: "{}"},
		} {
			res, _ := s.do(t, r)
			if res.StatusCode == 0 {
				t.Fatalf("%s %s: no answer", r.method, r.path)
			}
		}
	}

	res, err := s.client.Get(admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d %v", res.StatusCode, err)
	}
	if bytes.Contains(body, []byte("zq")) {
		t.Errorf("something a request carried reached /metrics:\n%s", grepLines(body, "zq"))
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("Prometheus's parser refuses /metrics: %v\n%s", err, body)
	}
	for name, typ := range map[string]dto.MetricType{
		"postbox_requests_total":           dto.MetricType_COUNTER,
		"postbox_request_duration_seconds": dto.MetricType_HISTOGRAM,
		"postbox_rejections_total":         dto.MetricType_COUNTER,
		"go_goroutines":                    dto.MetricType_GAUGE,
		"go_memstats_heap_inuse_bytes":     dto.MetricType_GAUGE,
		"process_resident_memory_bytes":    dto.MetricType_GAUGE,
		"process_cpu_seconds_total":        dto.MetricType_COUNTER,
		"process_start_time_seconds":       dto.MetricType_GAUGE,
		"process_open_fds":                 dto.MetricType_GAUGE,
	} {
		if f := fams[name]; f == nil || f.GetType() != typ {
			t.Errorf("%s: %v, want a %s", name, f, typ)
		}
	}
	hooks := map[string]int{}
	for _, name := range []string{"postbox_requests_total", "postbox_rejections_total", "postbox_request_duration_seconds"} {
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "hook" {
					hooks[l.GetValue()]++
				}
			}
		}
	}
	for hook := range hooks {
		if hook != "" && hook != "lamp" && hook != "hello" {
			t.Errorf("a series is labelled hook=%q, which is not configured", hook)
		}
	}
	// 200 requests to 40 paths each, answered 404, 405, 401 and 200:
	// a handful of series, not one per path.
	if n := len(fams["postbox_requests_total"].GetMetric()); n > 6 {
		t.Errorf("postbox_requests_total has %d series after requests to 160 distinct paths", n)
	}
}

// grepLines returns the lines of b that contain s.
func grepLines(b []byte, s string) string {
	var out []string
	for line := range strings.Lines(string(b)) {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "")
}
