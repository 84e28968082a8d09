package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// openSpec is one open-loop load: requests are sent on a fixed schedule,
// rate per second for duration, whatever the answers do. Each request runs
// in its own goroutine; at most inflight run at once, and a slot that finds
// them all busy is missed (counted, not sent late), so that a slow server
// never delays the schedule.
type openSpec struct {
	url      string
	token    string // X-Token
	rate     float64
	duration time.Duration
	inflight int
	timeout  time.Duration // per request
	client   *http.Client
}

// openResult is what an open-loop load saw. Slots are numbered from 0;
// slot i carries bench_seq i+base.
type openResult struct {
	Slots    int // scheduled
	Missed   int // not sent: inflight requests were already running
	Accepted int // 2xx answers
	Non2xx   int
	Statuses map[int]int // of the non-2xx answers
	Errors   int
	FirstErr string
	// AcceptedSeqs are the bench_seq of the accepted requests.
	AcceptedSeqs []uint64
	// Lateness is, per request sent, how long after its slot the client
	// sent it (the generator's own delay), sorted, nanoseconds.
	Lateness []int64
	// Answers are the answer times of the accepted requests, sorted.
	Answers []int64
	// End is when the last answer came (or the last request gave up).
	End time.Time
}

// newLoadClient returns an HTTP client for open-loop loads: keep-alive,
// enough idle connections for every request in flight, no proxy.
func newLoadClient(inflight int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        inflight,
		MaxIdleConnsPerHost: inflight,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
}

// runOpen drives spec.url with requests whose bodies are payload with
// bench_seq base+i and bench_sent the time of sending. It returns once
// every request sent has its answer or gave up.
func runOpen(ctx context.Context, spec openSpec, base uint64) openResult {
	n := int(spec.rate * spec.duration.Seconds())
	interval := time.Duration(float64(time.Second) / spec.rate)
	status := make([]int, n) // 0: missed or not answered
	late := make([]int64, n)
	answer := make([]int64, n)
	sent := make([]bool, n)
	errs := make([]error, n)
	sem := make(chan struct{}, spec.inflight)
	var wg sync.WaitGroup
	res := openResult{Slots: n}
	start := time.Now()
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if d := time.Until(at); d > 0 {
			sleep(ctx, d)
		}
		if ctx.Err() != nil {
			res.Slots = i
			break
		}
		select {
		case sem <- struct{}{}:
		default:
			res.Missed++
			continue
		}
		sent[i] = true
		wg.Go(func() {
			defer func() { <-sem }()
			status[i], late[i], answer[i], errs[i] = sendTimed(ctx, spec, base+uint64(i), at)
		})
	}
	wg.Wait()
	res.End = time.Now()
	for i := range res.Slots {
		if !sent[i] {
			continue
		}
		res.Lateness = append(res.Lateness, late[i])
		switch {
		case errs[i] != nil:
			res.Errors++
			if res.FirstErr == "" {
				res.FirstErr = errs[i].Error()
			}
		case status[i] >= 200 && status[i] < 300:
			res.Accepted++
			res.AcceptedSeqs = append(res.AcceptedSeqs, base+uint64(i))
			res.Answers = append(res.Answers, answer[i])
		default:
			res.Non2xx++
			if res.Statuses == nil {
				res.Statuses = map[int]int{}
			}
			res.Statuses[status[i]]++
		}
	}
	slices.Sort(res.Lateness)
	slices.Sort(res.Answers)
	return res
}

// sendTimed sends one request of an open-loop load, scheduled at at.
func sendTimed(ctx context.Context, spec openSpec, seq uint64, at time.Time) (status int, late, answer int64, err error) {
	t0 := time.Now()
	body := timedBody(make([]byte, 0, len(payload)+64), seq, t0.UnixNano())
	late = int64(t0.Sub(at))
	ctx, cancel := context.WithTimeout(ctx, spec.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, spec.url, bytes.NewReader(body))
	if err != nil {
		return 0, late, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "postbox-bench")
	req.Header.Set("X-Token", spec.token)
	resp, err := spec.client.Do(req)
	if err != nil {
		return 0, late, 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, late, int64(time.Since(t0)), err
}
