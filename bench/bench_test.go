package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestQuickRun runs the harness as `go run ./bench -quick` would, so that
// it cannot rot: every scenario must produce numbers. It asserts nothing
// about speed (the machine may be busy); that is what the harness reports.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds postbox and starts it five times; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	out := filepath.Join(dir, "out.json")
	var stdout, stderr bytes.Buffer
	// A load of 1 s rather than -quick's 150 ms: under the race detector,
	// beside the e2e suite on 2 cores, one sync exec request (e) could take
	// longer than 150 ms, and the window then held no answer at all.
	if err := run(ctx, []string{"-quick", "-duration", "1s", "-json", out}, &stdout, &stderr); err != nil {
		t.Fatalf("bench -quick: %v\nstderr:\n%s", err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("the JSON output does not parse: %v", err)
	}
	for _, sc := range scenarios() {
		var r *row
		for i := range rep.Rows {
			if rep.Rows[i].Key == sc.Key {
				r = &rep.Rows[i]
			}
		}
		switch {
		case r == nil:
			t.Errorf("scenario %s: no row", sc.Key)
		case r.OK == 0 || r.RPS <= 0 || r.P50 <= 0 || r.P99 < r.P50:
			t.Errorf("scenario %s: no measurement: %d answers, %.0f req/s, p50 %v, p99 %v (first error: %s)",
				sc.Key, r.OK, r.RPS, r.P50, r.P99, r.FirstErr)
		case r.Errors+r.Non2xx > 0:
			t.Errorf("scenario %s: %d errors and %d non-2xx answers (first error: %s)", sc.Key, r.Errors, r.Non2xx, r.FirstErr)
		case r.RSSIdle <= 0 || r.RSSPeak < r.RSSIdle || r.Ready <= 0 || (!sc.Ceiling && r.ReadyRestart <= 0):
			t.Errorf("scenario %s: RSS idle %d, peak %d, ready %v, %v on restart", sc.Key, r.RSSIdle, r.RSSPeak, r.Ready, r.ReadyRestart)
		case r.VsCeiling <= 0:
			t.Errorf("scenario %s: no ratio to the ceiling", sc.Key)
		case sc.Exec && (r.Exec == nil || r.Exec.Accepted == 0 || r.VsB <= 0):
			t.Errorf("scenario %s: no queue counts or ratio to b: %+v, %.2f", sc.Key, r.Exec, r.VsB)
		case sc.Slow && (r.Exec.Done >= r.Exec.Accepted || r.Exec.Failed > 0):
			// Answers do not wait for sleep 1: most actions are still
			// queued when the load ends, and none failed.
			t.Errorf("scenario %s: %d accepted, %d actions of sleep 1 done, %d failed", sc.Key, r.Exec.Accepted, r.Exec.Done, r.Exec.Failed)
		case sc.Key == "e" && r.Exec.Done < r.OK:
			// A sync hook answers after its action: every answer is a done action.
			t.Errorf("scenario e: %d answered but only %d actions done", r.OK, r.Exec.Done)
		}
	}
	// The delivery scenarios' plumbing: requests were accepted, their
	// deliveries reached the sink and were timed, the hanging destination
	// was called and the breaker's state was asked for.
	for _, ds := range deliveryScenarios(true) {
		i := slices.IndexFunc(rep.Delivery, func(r deliveryRow) bool { return r.Key == ds.Key })
		if i < 0 {
			t.Errorf("scenario %s: no row", ds.Key)
			continue
		}
		r := rep.Delivery[i]
		switch {
		case r.Accepted == 0 || r.Arrived == 0:
			t.Errorf("scenario %s: %d accepted, %d arrived at the sink (first error: %s)", ds.Key, r.Accepted, r.Arrived, r.FirstErr)
		case r.ArrivalP50 == 0 || r.ArrivalMax == 0:
			t.Errorf("scenario %s: arrivals not timed: p50 %v, max %v", ds.Key, r.ArrivalP50, r.ArrivalMax)
		case ds.Rate > 0 && (r.Slots == 0 || r.LateMax == 0):
			t.Errorf("scenario %s: %d slots, client lateness %v", ds.Key, r.Slots, r.LateMax)
		case ds.HangRate > 0 && (r.Hang == nil || r.Hang.Calls == 0 || r.Hang.Breaker == ""):
			t.Errorf("scenario %s: the hanging destination: %+v", ds.Key, r.Hang)
		case ds.Conns > 0 && (r.Rates == nil || r.Rates.ArrivalRate <= 0 || r.Rates.AcceptedRate <= 0):
			t.Errorf("scenario %s: rates %+v", ds.Key, r.Rates)
		}
	}
	if rep.Binary.Built <= 0 {
		t.Errorf("binary size %d", rep.Binary.Built)
	}
	if len(rep.Targets) == 0 {
		t.Errorf("no targets checked")
	}
	for _, want := range []string{"req/s", "×ceiling", "targets"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("the table has no %q:\n%s", want, stdout.String())
		}
	}

	// -compare against the run just made: every row is matched.
	stdout.Reset()
	if err := printCompare(&stdout, out, &rep); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&stdout)
	rows := 0
	for sc.Scan() {
		if strings.Contains(sc.Text(), "+0.0%") {
			rows++
		}
	}
	if rows != len(rep.Rows) {
		t.Errorf("compare with itself shows %d unchanged rows, want %d:\n%s", rows, len(rep.Rows), stdout.String())
	}
}

// TestReadResponse checks the load generator's response reader on the
// forms a Go server answers with.
func TestReadResponse(t *testing.T) {
	tests := []struct {
		name   string
		raw    string
		status int
		keep   bool
	}{
		{"a body with Content-Length keeps the connection",
			"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n", 200, true},
		{"a chunked body is read to its end",
			"HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nok\n\r\n0\r\n\r\n", 202, true},
		{"Connection: close ends the connection",
			"HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 400, false},
		{"HTTP/1.0 ends the connection",
			"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 200, false},
		{"a body without length ends with the connection",
			"HTTP/1.1 200 OK\r\n\r\nuntil the end", 200, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.raw + "NEXT"))
			status, keep, err := readResponse(br)
			if err != nil || status != tt.status || keep != tt.keep {
				t.Fatalf("got %d keep=%v err=%v, want %d keep=%v", status, keep, err, tt.status, tt.keep)
			}
			if rest, _ := br.Peek(4); keep && string(rest) != "NEXT" {
				t.Errorf("the body was not read exactly: next bytes %q", rest)
			}
		})
	}
}

// TestPercentile checks nearest-rank percentiles.
func TestPercentile(t *testing.T) {
	v := make([]int64, 1000)
	for i := range v {
		v[i] = int64(i + 1)
	}
	for _, tt := range []struct {
		p    float64
		want int64
	}{{50, 500}, {99, 990}, {99.9, 999}, {100, 1000}} {
		if got := percentile(v, tt.p); int64(got) != tt.want {
			t.Errorf("p%v = %d, want %d", tt.p, got, tt.want)
		}
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
}

// TestTimedBody checks that the sink reads back what a timed body carries,
// and that every timed body has the same length (closed-loop requests
// announce it in Content-Length before the time is known).
func TestTimedBody(t *testing.T) {
	for _, tt := range []struct {
		name string
		seq  uint64
		sent int64
	}{
		{"a time of now", 42, time.Now().UnixNano()},
		{"the zero time", 0, 0},
		{"the largest sequence number", 1<<64 - 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := timedBody(nil, tt.seq, tt.sent)
			if len(b) != len(timedBody(nil, 0, 0)) {
				t.Errorf("length %d, want %d", len(b), len(timedBody(nil, 0, 0)))
			}
			if !json.Valid(b) {
				t.Fatalf("not JSON: %s", b)
			}
			seq, sent, err := parseMarks(b)
			if err != nil || seq != tt.seq || sent != tt.sent {
				t.Errorf("read back %d, %d, %v; want %d, %d", seq, sent, err, tt.seq, tt.sent)
			}
		})
	}
	if _, _, err := parseMarks([]byte(payload)); err == nil {
		t.Error("a body without bench_sent was read as timed")
	}
}

// TestPercentileMissing checks that deliveries that never arrived rank
// above every arrival.
func TestPercentileMissing(t *testing.T) {
	v := make([]int64, 98)
	for i := range v {
		v[i] = int64(i + 1)
	}
	if got := percentileMissing(v, 2, 50); got != 50 {
		t.Errorf("p50 = %v, want 50", got)
	}
	if got := percentileMissing(v, 2, 99); got != -1 {
		t.Errorf("p99 with 2 of 100 missing = %v, want -1", got)
	}
	if got := percentileMissing(v, 0, 100); got != 98 {
		t.Errorf("max = %v, want 98", got)
	}
}

// TestDestinationState checks how the breaker's state is read from the
// admin API, and that an API without the route is reported as such.
func TestDestinationState(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		want   string
	}{
		{"the destination on the port is found among others", 200,
			`{"destinations":[{"name":"http://127.0.0.1:1234","state":"closed"},{"name":"http://127.0.0.1:5678","state":"open"}]}`, "open"},
		{"a destination on another port is not taken for it", 200,
			`{"destinations":[{"name":"http://127.0.0.1:15678","state":"open"}]}`, "not listed (listed: http://127.0.0.1:15678)"},
		{"an admin without the route is not available", 404, `{"error":{"code":"not_found"}}`, "not available (GET /api/destinations: 404)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/api/destinations" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			p := &proc{admin: strings.TrimPrefix(srv.URL, "http://")}
			d, why := (&measurer{}).destinationState(t.Context(), p, "5678")
			if d != nil {
				why = d.State
			}
			if why != tt.want {
				t.Errorf("got %q, want %q", why, tt.want)
			}
		})
	}
}

// TestSinkHolds checks that a holding sink keeps a request open until its
// caller gives up, and records it.
func TestSinkHolds(t *testing.T) {
	s, err := startSink(0, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url(), bytes.NewReader(timedBody(nil, 7, time.Now().UnixNano())))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %s; want no answer", resp.Status)
	}
	// The handler may still be on its way on a busy machine.
	deadline := time.Now().Add(5 * time.Second)
	c := s.counts()
	for (c.Arrived != 1 || c.HeldPeak != 1) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
		c = s.counts()
	}
	if c.Arrived != 1 || c.HeldPeak != 1 {
		t.Errorf("counts %+v, want 1 arrived and 1 held", c)
	}
}
