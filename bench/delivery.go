package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
)

// deliveryScenario is a load whose deliveries postbox forwards, with an
// http action as a new user would write it, to a sink of the harness that
// records when each arrived: g, h and i.
type deliveryScenario struct {
	Key  string
	Name string
	// Delay is how long the sink takes to answer.
	Delay time.Duration
	// Rate is the offered load, requests per second sent on a schedule
	// (open loop); 0 for a closed loop of Conns connections.
	Rate  float64
	Conns int
	// HangRate, when not 0, adds a second hook whose destination never
	// answers (until the action's timeout), sent this many requests per
	// second beside the first.
	HangRate float64
}

// deliveryScenarios are g, h and i; quick makes them small enough for a
// smoke run.
func deliveryScenarios(quick bool) []deliveryScenario {
	rate, hang, conns := 2000.0, 50.0, 64
	if quick {
		rate, hang, conns = 200, 20, 4
	}
	return []deliveryScenario{
		{Key: "g", Name: fmt.Sprintf("http → 20ms endpoint, %.0f/s open loop", rate), Delay: 20 * time.Millisecond, Rate: rate},
		{Key: "h", Name: fmt.Sprintf("g + a hanging destination at %.0f/s", hang), Delay: 20 * time.Millisecond, Rate: rate, HangRate: hang},
		{Key: "i", Name: fmt.Sprintf("http → 0ms endpoint, %d conns closed loop", conns), Conns: conns},
	}
}

// Hooks of the delivery scenarios: as b, plus the http action.
const (
	fastHook = "fast" // forwards to the sink that answers
	hangHook = "hang" // forwards to the sink that holds every request
)

// hooks is the hooks: section for the scenario's sinks (hang may be nil).
func (ds deliveryScenario) hooks(fast, hang *sink) string {
	hook := func(id string, s *sink) string {
		return "  - id: " + id + "\n" +
			"    auth: {token: {header: X-Token, secret: " + benchToken + "}}\n" +
			"    actions:\n" +
			"      - http: {url: \"" + s.url() + "\", body: \"{{ .Body }}\"}\n" +
			"    response: {status: 200, body: SUCCESS}\n"
	}
	y := hook(fastHook, fast)
	if hang != nil {
		y += hook(hangHook, hang)
	}
	return y
}

// deliverySample is one measurement of a delivery scenario.
type deliverySample struct {
	Rate     float64       `json:"rate,omitempty"`  // offered requests/s (open loop)
	Conns    int           `json:"conns,omitempty"` // connections (closed loop)
	Load     time.Duration `json:"load"`            // first request to last answer
	Slots    int           `json:"slots,omitempty"` // requests scheduled (open loop)
	Missed   int           `json:"missed"`          // slots not sent: the in-flight bound was reached
	Accepted int           `json:"accepted"`        // 2xx answers
	Non2xx   int           `json:"non2xx"`
	Statuses map[int]int   `json:"statuses,omitempty"` // of the non-2xx answers
	Errors   int           `json:"errors"`
	FirstErr string        `json:"first_error,omitempty"`
	// LateP50..LateMax: how long after its slot the client sent a request
	// (the generator's own delay; open loop).
	LateP50 time.Duration `json:"client_late_p50,omitempty"`
	LateP99 time.Duration `json:"client_late_p99,omitempty"`
	LateMax time.Duration `json:"client_late_max,omitempty"`
	// AnswerP99 is postbox's answer time to the client.
	AnswerP50 time.Duration `json:"answer_p50"`
	AnswerP99 time.Duration `json:"answer_p99"`
	// Arrived counts accepted deliveries that reached the sink.
	Arrived int `json:"arrived"`
	Dups    int `json:"duplicates"`
	// LastArrival is from the end of the load (last answer) to the last
	// delivery's arrival, 0 when all had arrived by then; -1 when not all
	// accepted deliveries arrived within WaitLimit.
	LastArrival time.Duration `json:"last_arrival"`
	WaitLimit   time.Duration `json:"wait_limit"`
	// Arrival*: from when the client sent a delivery to when it arrived at
	// the sink. Deliveries that did not arrive rank last; a percentile
	// that falls among them is -1.
	ArrivalP50 time.Duration `json:"arrival_p50"`
	ArrivalP99 time.Duration `json:"arrival_p99"`
	ArrivalMax time.Duration `json:"arrival_max"`
	// CPU is postbox's CPU time per accepted request; Client the
	// harness's (generator and sinks).
	CPU    time.Duration `json:"cpu_per_req"`
	Client time.Duration `json:"client_cpu_per_req"`
	Hang   *hangStats    `json:"hang,omitempty"`
	Rates  *rateStats    `json:"rates,omitempty"`
}

// hangStats is what the hook to the hanging destination saw (h).
type hangStats struct {
	Rate     float64 `json:"rate"`
	Slots    int     `json:"slots"`
	Missed   int     `json:"missed"`
	Accepted int     `json:"accepted"`
	Calls    int     `json:"calls"`     // requests that reached the hanging sink
	HeldPeak int     `json:"held_peak"` // most held open at once
	// Breaker is the destination's state at the admin API at the end, or
	// why there is none.
	Breaker string `json:"breaker"`
	// Opened is how many times its breaker opened, by the admin API;
	// Failed how many calls to it failed.
	Opened uint64 `json:"opened"`
	Failed uint64 `json:"failed"`
	// BreakerOpen is from the start of the load to when the breaker was
	// first seen to have opened; 0 when it was not.
	BreakerOpen time.Duration `json:"breaker_open,omitempty"`
}

// destinationView is what the harness reads of a destination from
// postbox's admin API (GET /api/destinations).
type destinationView struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Opened uint64 `json:"opened"`
	Failed uint64 `json:"failed"`
}

// rateStats compares delivery with acceptance over a closed loop's
// window (i).
type rateStats struct {
	Window       time.Duration `json:"window"`
	AcceptedRate float64       `json:"accepted_rate"` // 2xx answers/s
	ArrivalRate  float64       `json:"arrival_rate"`  // deliveries arrived at the sink/s
	// Backlog is accepted − arrived at the window's start and end.
	BacklogStart int `json:"backlog_start"`
	BacklogEnd   int `json:"backlog_end"`
	// VsB is ArrivalRate divided by (b)'s req/s at the same connections
	// in the same run; 0 without b.
	VsB float64 `json:"vs_b,omitempty"`
}

// percentileMissing is the p-th percentile of sorted values and missing
// more that rank above all of them; -1 when it falls among the missing.
func percentileMissing(sorted []int64, missing int, p float64) time.Duration {
	n := len(sorted) + missing
	if n == 0 {
		return 0
	}
	rank := int(float64(n)*p/100+0.999999) - 1
	rank = min(max(rank, 0), n-1)
	if rank >= len(sorted) {
		return -1
	}
	return time.Duration(sorted[rank])
}

// deliveryDuration is how long the load of a delivery scenario runs.
func (m *measurer) deliveryDuration() time.Duration {
	if m.opts.quick {
		return time.Second
	}
	return m.opts.duration
}

// measureDelivery runs one delivery scenario on a new postbox.
func (m *measurer) measureDelivery(ctx context.Context, ds deliveryScenario) (deliverySample, error) {
	m.serial++
	dir := filepath.Join(m.tmp, fmt.Sprintf("%03d-%s", m.serial, ds.Key))
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return deliverySample{}, err
	}
	defer os.RemoveAll(dir)
	fast, err := startSink(ds.Delay, false)
	if err != nil {
		return deliverySample{}, err
	}
	defer fast.close()
	var hang *sink
	if ds.HangRate > 0 {
		if hang, err = startSink(0, true); err != nil {
			return deliverySample{}, err
		}
		defer hang.close()
	}
	addr, err := freeAddr()
	if err != nil {
		return deliverySample{}, err
	}
	sc := scenario{Key: ds.Key, Name: ds.Name, Path: "/hooks/" + fastHook, Timed: true, Hook: ds.hooks(fast, hang)}
	p, _, err := m.startPostbox(ctx, sc, dir, addr)
	if err != nil {
		return deliverySample{}, err
	}
	defer p.stop() // before the sinks close: postbox's calls to them end first
	m.logf("  %s pid=%d ready in %v", ds.Key, p.cmd.Process.Pid, p.Ready.Round(time.Millisecond/10))
	sleep(ctx, m.opts.settle)

	var s deliverySample
	cpu0, client0 := p.cpuTime(), selfCPU()
	if ds.Rate > 0 {
		s, err = m.openDelivery(ctx, ds, p, addr, fast, hang)
	} else {
		s, err = m.closedDelivery(ctx, ds, sc, addr, fast)
	}
	if err != nil {
		return s, err
	}
	if n := time.Duration(s.Accepted + s.Non2xx + s.Errors); n > 0 {
		s.CPU, s.Client = (p.cpuTime()-cpu0)/n, (selfCPU()-client0)/n
	}
	if !p.alive() {
		return s, fmt.Errorf("%s exited under load\n%s", ds.Key, p.out.String())
	}
	if s.Non2xx > 0 || s.Errors > 0 {
		m.logf("  %s: %d non-2xx, %d errors (first: %s)\n%s", ds.Key, s.Non2xx, s.Errors, s.FirstErr, p.out.String())
	}
	return s, nil
}

// openDelivery is g and h: the open-loop load(s), then the wait for the
// accepted deliveries to arrive and, for h, for the breaker to open.
func (m *measurer) openDelivery(ctx context.Context, ds deliveryScenario, p *proc, addr string, fast, hang *sink) (deliverySample, error) {
	const inflight = 1024 // postbox's own admission limit (max_inflight) by default
	client := newLoadClient(inflight)
	defer client.CloseIdleConnections()
	spec := openSpec{url: "http://" + addr + "/hooks/" + fastHook, token: benchToken, rate: ds.Rate,
		duration: m.deliveryDuration(), inflight: inflight, timeout: 10 * time.Second, client: client}
	start := time.Now()
	var bad openResult
	var wg sync.WaitGroup
	if hang != nil {
		hs := spec
		hs.url, hs.rate = "http://"+addr+"/hooks/"+hangHook, ds.HangRate
		// Its own sequence numbers, so that its bodies differ from the
		// healthy hook's.
		wg.Go(func() { bad = runOpen(ctx, hs, 1<<40) })
	}
	good := runOpen(ctx, spec, 0)
	wg.Wait()
	end := good.End
	if bad.End.After(end) {
		end = bad.End
	}
	s := deliverySample{Rate: ds.Rate, Load: end.Sub(start), Slots: good.Slots, Missed: good.Missed,
		Accepted: good.Accepted, Non2xx: good.Non2xx, Statuses: good.Statuses, Errors: good.Errors, FirstErr: good.FirstErr,
		LateP50: percentile(good.Lateness, 50), LateP99: percentile(good.Lateness, 99), LateMax: percentile(good.Lateness, 100),
		AnswerP50: percentile(good.Answers, 50), AnswerP99: percentile(good.Answers, 99),
		WaitLimit: m.arrivalWait()}

	fast.waitArrived(ctx, good.Accepted, s.WaitLimit)
	m.arrivals(&s, fast, good.AcceptedSeqs, end)

	if hang != nil {
		h := &hangStats{Rate: ds.HangRate, Slots: bad.Slots, Missed: bad.Missed, Accepted: bad.Accepted}
		// A call to the hanging destination fails only when the action
		// times out (30 s by default): wait that long after the first
		// one for the breaker to open, unless it did.
		deadline := start.Add(40 * time.Second)
		if m.opts.quick {
			deadline = time.Now()
		}
		for {
			d, why := m.destinationState(ctx, p, hang.port())
			if d == nil {
				h.Breaker = why
				break
			}
			h.Breaker, h.Opened, h.Failed = d.State, d.Opened, d.Failed
			opened := d.State == "open" || d.Opened > 0
			if opened && h.BreakerOpen == 0 {
				h.BreakerOpen = time.Since(start)
			}
			if opened || !time.Now().Before(deadline) || ctx.Err() != nil {
				break
			}
			sleep(ctx, 250*time.Millisecond)
		}
		c := hang.counts()
		h.Calls, h.HeldPeak = c.Calls, c.HeldPeak
		s.Hang = h
	}
	return s, nil
}

// arrivals fills in what the sink saw of the accepted deliveries, the
// load having ended at end.
func (m *measurer) arrivals(s *deliverySample, fast *sink, accepted []uint64, end time.Time) {
	c := fast.counts()
	s.Arrived, s.Dups = fast.arrivedOf(accepted), c.Dups
	missing := max(0, s.Accepted-s.Arrived)
	lat := fast.latencies()
	s.ArrivalP50, s.ArrivalP99 = percentileMissing(lat, missing, 50), percentileMissing(lat, missing, 99)
	s.ArrivalMax = percentileMissing(lat, missing, 100)
	switch {
	case missing > 0:
		s.LastArrival = -1
	case c.Last.After(end):
		s.LastArrival = c.Last.Sub(end)
	}
}

// arrivalWait bounds the wait for deliveries to arrive after a load.
func (m *measurer) arrivalWait() time.Duration {
	if m.opts.quick {
		return 3 * time.Second
	}
	return 15 * time.Second
}

// destinationState asks postbox's admin API for the destination on
// 127.0.0.1:port. Without one, it says why: "not available" when the API
// has no such route.
func (m *measurer) destinationState(ctx context.Context, p *proc, port string) (*destinationView, string) {
	if p.admin == "" || p.admin == "off" {
		return nil, "not available (admin off)"
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.admin+"/api/destinations", nil)
	if err != nil {
		return nil, "error: " + err.Error()
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "error: " + err.Error()
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil, "not available (GET /api/destinations: 404)"
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Sprintf("error: GET /api/destinations: %s", resp.Status)
	}
	var list struct {
		Destinations []destinationView `json:"destinations"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, "error: GET /api/destinations: " + err.Error()
	}
	var names []string
	for _, d := range list.Destinations {
		if strings.HasSuffix(d.Name, ":"+port) {
			return &d, ""
		}
		names = append(names, d.Name)
	}
	sort.Strings(names)
	return nil, fmt.Sprintf("not listed (listed: %s)", strings.Join(names, ", "))
}

// closedDelivery is i: a closed loop on the forwarding hook, counting
// arrivals at the sink over the measured window.
func (m *measurer) closedDelivery(ctx context.Context, ds deliveryScenario, sc scenario, addr string, fast *sink) (deliverySample, error) {
	req, err := sc.requests(addr)
	if err != nil {
		return deliverySample{}, err
	}
	warmup, window := m.opts.warmup, m.deliveryDuration()
	if m.opts.quick {
		warmup = 200 * time.Millisecond
	}
	var first, last sinkCounts
	start := time.Now()
	res := runLoad(ctx, loadSpec{addr: addr, conns: ds.Conns, warmup: warmup, duration: window,
		timeout: 30 * time.Second, request: req, window: func(begin bool) {
			if begin {
				first = fast.counts()
			} else {
				last = fast.counts()
			}
		}})
	s := deliverySample{Conns: ds.Conns, Load: time.Since(start), Accepted: res.Sent, Non2xx: res.Non2xx, Errors: res.Errors,
		Statuses: res.Statuses,
		FirstErr: res.FirstErr, AnswerP50: percentile(res.Latencies, 50), AnswerP99: percentile(res.Latencies, 99)}
	r := &rateStats{Window: res.Window,
		AcceptedRate: float64(res.OK) / res.Window.Seconds(),
		ArrivalRate:  float64(last.Arrived-first.Arrived) / res.Window.Seconds(),
		BacklogStart: res.Sent - res.OK - first.Arrived,
		BacklogEnd:   res.Sent - last.Arrived}
	s.Rates = r
	// Sequence numbers of a closed loop start at 1; the accepted ones
	// are not told apart from those that failed, so compare counts.
	c := fast.counts()
	s.Arrived, s.Dups = min(c.Arrived, s.Accepted), c.Dups
	lat := fast.latencies()
	s.ArrivalP50, s.ArrivalP99, s.ArrivalMax = percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
	s.LastArrival = -1
	return s, nil
}
